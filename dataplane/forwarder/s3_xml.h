// The few parts of S3's XML the forwarder and the export command read
// (UploadId, Key, IsTruncated, NextContinuationToken, Error's Code and
// Message) and the one document they write (CompleteMultipartUpload).
// S3's answers are flat and small, so this is a bounded scan for named
// elements with entity decoding rather than a general XML parser (which
// would be a new dependency for five fields); fuzzed as tests/fuzz/s3_xml.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hawser::forwarder {

// S3's XML: the text of the first <name> element (entities decoded), nullopt
// when absent; every <name> element in order; "Code: Message" of an <Error>.
std::optional<std::string> xmlText(std::string_view xml, std::string_view name);
std::vector<std::string> xmlTexts(std::string_view xml, std::string_view name);
std::string s3ErrorSummary(unsigned status, std::string_view body);

// The body of CompleteMultipartUpload for parts 1..n with these ETags.
std::string completeMultipartBody(const std::vector<std::string>& etags);

}  // namespace hawser::forwarder
