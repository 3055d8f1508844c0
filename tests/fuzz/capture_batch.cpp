// A capture batch as the forwarder reads it from the network
// (telemetry/capture/batch.h): gzip (first byte odd) or plain NDJSON,
// records validated and redacted. Whatever is accepted must be valid
// records, and redacting them again must change nothing.
#include <boost/json/parse.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "telemetry/capture/batch.h"
#include "telemetry/capture/record.h"

namespace t = hawser::telemetry;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const t::RedactionRules rules{{"authorization", "cookie"}, {{"password"}, {"card", "*"}, {"items", "token"}}};
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto batch = t::decodeBatch(body, (data[0] & 1) ? "gzip" : "", {1 << 20}, rules);
  if (batch.status != 200) {
    if (batch.error.empty() || !batch.records.empty()) __builtin_trap();
    return 0;
  }
  for (const auto& [service, line] : batch.records) {
    auto v = boost::json::parse(line);
    if (!t::validateRecord(v).empty()) __builtin_trap();
    if (v.get_object().at("service").get_string() != service) __builtin_trap();
    if (t::redactRecord(v.get_object(), rules)) __builtin_trap();  // idempotent
  }
  return 0;
}
