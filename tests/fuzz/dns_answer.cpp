// The DNS answer reader (RFC 1035 wire format) as the DNS source uses it: the
// whole message, then the SRV / A / AAAA extraction for the question's name
// (following CNAMEs) and the negative-caching TTL.
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>

#include "discovery/dns/dns_message.h"

namespace dns = hawser::discovery::dns;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto parsed = dns::parseDnsMessage(std::span<const std::uint8_t>(data, size));
  const auto* m = std::get_if<dns::DnsMessage>(&parsed);
  if (m == nullptr) return 0;
  for (const auto& name : {m->question_name, std::string("_http._tcp.web.local")}) {
    (void)dns::extractSrv(*m, name);
    (void)dns::extractAddresses(*m, name, dns::kTypeA);
    (void)dns::extractAddresses(*m, name, dns::kTypeAaaa);
  }
  (void)dns::negativeTtl(*m);
  return 0;
}
