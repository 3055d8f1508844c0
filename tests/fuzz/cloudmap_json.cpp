// Every Cloud Map response decoder (DiscoverInstances, DiscoverInstancesRevision
// and the AWS error body), on the same bytes. The input's first line may be
// "<http status> [<X-Amzn-ErrorType>]"; otherwise the status is 200 and the
// whole input is the body. The decoders promise never to throw.
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "discovery/aws/cloudmap_codec.h"

namespace aws = hawser::discovery::aws;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  unsigned status = 200;
  std::string_view error_type, body = input;
  if (auto nl = input.find('\n'); nl != std::string_view::npos) {
    std::string_view line = input.substr(0, nl);
    unsigned parsed = 0;
    auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), parsed);
    if (ec == std::errc() && end != line.data() && parsed < 1000) {
      status = parsed;
      std::string_view rest(end, line.data() + line.size() - end);
      if (!rest.empty() && rest.front() == ' ') error_type = rest.substr(1);
      body = input.substr(nl + 1);
    }
  }

  auto instances = aws::decodeDiscoverInstances(status, body, error_type);
  if (auto* ok = std::get_if<aws::DiscoveredInstances>(&instances)) {
    // Usable endpoints are exactly what the decoder validated.
    for (const auto& e : ok->endpoints) {
      if (e.port == 0 || e.host.empty()) __builtin_trap();
    }
    if (ok->endpoints.empty() && !ok->empty_instance_list) __builtin_trap();
  } else {
    (void)aws::toString(std::get<aws::CloudMapError>(instances).kind);
  }
  (void)aws::decodeDiscoverInstancesRevision(status, body, error_type);
  auto error = aws::decodeAwsError(status, body, error_type);
  (void)aws::isThrottlingErrorType(error.type);
  return 0;
}
