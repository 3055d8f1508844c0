// An S3 answer as the forwarder and `capture export --from s3://` read it
// (dataplane/forwarder/s3_xml.h): any bytes, any element name. Every text
// found is no longer than the input, the first is the first of all, and a
// document written by completeMultipartBody reads back to its ETags.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "dataplane/forwarder/s3_xml.h"

namespace f = hawser::forwarder;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (std::string_view name : {"Key", "UploadId", "IsTruncated", "NextContinuationToken", "Code", "Message"}) {
    auto all = f::xmlTexts(in, name);
    auto first = f::xmlText(in, name);
    if (first.has_value() != !all.empty()) __builtin_trap();
    if (first && *first != all.front()) __builtin_trap();
    for (const auto& t : all)
      if (t.size() > size) __builtin_trap();
  }
  (void)f::s3ErrorSummary(500, in);
  // The input as ETags (split at newlines) survives a round trip through the document.
  std::vector<std::string> etags;
  size_t from = 0;
  while (from <= size && etags.size() < 64) {
    auto nl = in.find('\n', from);
    auto part = in.substr(from, nl == std::string_view::npos ? std::string_view::npos : nl - from);
    etags.emplace_back(part);
    if (nl == std::string_view::npos) break;
    from = nl + 1;
  }
  auto doc = f::completeMultipartBody(etags);
  auto back = f::xmlTexts(doc, "ETag");
  // Text that itself looks like an entity ("&amp;") is escaped, so it reads back as written.
  if (back != etags) __builtin_trap();
  return 0;
}
