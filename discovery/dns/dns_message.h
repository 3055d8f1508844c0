// A minimal, allocation-light reader of DNS answer messages (RFC 1035 wire
// format), written because c-ares 1.18 has no SRV TTLs: ares_parse_srv_reply
// drops the TTL and the ares_dns_* record API only arrived in 1.20. The source
// hands the raw answer c-ares received (ares_query's abuf) to these pure
// functions, for every record type it uses (SRV, A, AAAA, following CNAMEs),
// so all TTLs come from one place.
//
// Bounded and defensive: names are limited to 255 octets, compression
// pointers must point strictly backwards (no loops), and every read is
// length-checked; a malformed message yields an error string, never UB.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace hawser::discovery::dns {

inline constexpr std::uint16_t kTypeA = 1;
inline constexpr std::uint16_t kTypeCname = 5;
inline constexpr std::uint16_t kTypeSoa = 6;
inline constexpr std::uint16_t kTypeAaaa = 28;
inline constexpr std::uint16_t kTypeSrv = 33;
inline constexpr std::uint16_t kClassIn = 1;

inline constexpr std::uint8_t kRcodeNoError = 0;
inline constexpr std::uint8_t kRcodeFormErr = 1;
inline constexpr std::uint8_t kRcodeServFail = 2;
inline constexpr std::uint8_t kRcodeNxDomain = 3;
inline constexpr std::uint8_t kRcodeNotImp = 4;
inline constexpr std::uint8_t kRcodeRefused = 5;

struct DnsRecord {
  std::string name;  // owner, lower case, no trailing dot ("" is the root)
  std::uint16_t type = 0;
  std::uint16_t klass = 0;
  std::uint32_t ttl = 0;
  // Decoded rdata, by type:
  std::string address;  // A / AAAA: textual address
  std::string target;   // SRV target / CNAME target (lower case, no trailing dot; "" is ".")
  std::uint16_t priority = 0, weight = 0, port = 0;  // SRV
  std::uint32_t soa_minimum = 0;                     // SOA (authority section)
};

struct DnsMessage {
  std::uint16_t id = 0;
  bool response = false;
  bool truncated = false;
  std::uint8_t rcode = 0;
  std::string question_name;  // first question, if any
  std::uint16_t question_type = 0;
  std::vector<DnsRecord> answers;
  std::vector<DnsRecord> authority;  // only SOA records are decoded beyond the header
  std::vector<DnsRecord> additional;
};

// Parses a whole message. Records of types it does not decode are kept with
// their header fields only. Error: a short human-readable reason.
std::variant<DnsMessage, std::string> parseDnsMessage(std::span<const std::uint8_t> bytes);

// Lower-cases and strips one trailing dot: the form record names are compared in.
std::string normalizeDnsName(std::string_view name);

// The SRV records answering `qname` (following a CNAME chain from it), with
// the effective TTL of each: min(record TTL, TTLs of the CNAMEs followed).
struct SrvAnswer {
  std::string target;  // "" means "." (the service is decidedly not available, RFC 2782)
  std::uint16_t priority = 0, weight = 0, port = 0;
  std::uint32_t ttl = 0;
};
std::vector<SrvAnswer> extractSrv(const DnsMessage& message, std::string_view qname);

// The A (type kTypeA) or AAAA (kTypeAaaa) addresses answering `qname`,
// following a CNAME chain; `ttl` is the minimum over the addresses and the
// CNAMEs followed (0 when there are none).
struct AddressAnswer {
  std::vector<std::string> addresses;
  std::uint32_t ttl = 0;
};
AddressAnswer extractAddresses(const DnsMessage& message, std::string_view qname, std::uint16_t type);

// The negative-caching TTL of an NXDOMAIN / NODATA answer (RFC 2308:
// min(SOA TTL, SOA MINIMUM) from the authority section), if the server sent one.
std::optional<std::uint32_t> negativeTtl(const DnsMessage& message);

}  // namespace hawser::discovery::dns
