// Workload identity: SANs of a certificate, the identity a peer proves, and
// matching identities against authorization lists and expected SANs.
//
// Plain functions over X509 (no sockets): the dataplane calls them after a
// handshake; they never touch a private key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/x509.h>

namespace hawser::tls {

struct SubjectAltNames {
  std::vector<std::string> uris;          // URI SANs in certificate order
  std::vector<std::string> dns;           // DNS SANs
  std::vector<std::string> ip_addresses;  // IP SANs as text ("127.0.0.1", "::1")
};

// SANs of `cert`; names holding a NUL byte or any other control character,
// or that are not valid strings, are skipped (a peer's certificate with such
// a name never gets this far: see sanProblem).
SubjectAltNames subjectAltNames(const X509* cert);

// Why the SANs of a peer's certificate make it unacceptable, whatever the
// identity it claims. Checked at the handshake (in the verify callback of
// both directions, see ssl_context.h), so no connection with such a
// certificate ever carries a request.
enum class SanProblem {
  kNone,
  kControlCharacter,  // a URI or DNS SAN holds NUL, another byte < 0x20, or 0x7f
  kMultipleUris,      // a SPIFFE URI SAN beside another URI SAN (an X.509-SVID has exactly one)
};
SanProblem sanProblem(const X509* cert);
std::string_view describe(SanProblem problem);  // for log lines

// True for "spiffe://" URIs (scheme case-insensitive) with a trust domain.
bool isSpiffeId(std::string_view uri);
// True for a DNS SAN that is a DNS name (RFC 1123 labels of letters, digits
// and '-', joined by dots, optionally "*." first). A DNS SAN reading
// "spiffe://ns/svc" is not one, so it is never taken for a SPIFFE ID.
bool isDnsName(std::string_view name);
// True for an identity pattern that is a URI (it has a scheme: "spiffe://...").
// URI patterns match URI SANs only; the others match DNS SANs only.
bool isUriPattern(std::string_view pattern);

// The identity a certificate proves: its SPIFFE URI SAN, else its first DNS
// SAN that is a DNS name; nullopt when it has neither, or when it carries a
// SPIFFE URI SAN beside another URI SAN. For a certificate, also nullopt
// when it has a sanProblem() (names the first overload never sees).
std::optional<std::string> peerIdentity(const SubjectAltNames& sans);
std::optional<std::string> peerIdentity(const X509* cert);

// `pattern` is an exact identity, or a prefix ending in '*' ("spiffe://demo/*");
// "*" alone allows any identity. An empty identity never matches. A URI
// pattern matches only a SPIFFE identity, a DNS pattern only a DNS identity
// (`identity` as peerIdentity() returns it: a SPIFFE ID or a DNS name).
bool identityMatches(std::string_view pattern, std::string_view identity);
// True when any pattern matches `identity` (authorization.allow).
bool identityAllowed(const std::vector<std::string>& patterns, std::string_view identity);

// Outbound check: the peer presents one of `expected` (patterns as above):
// URI patterns against its SPIFFE URI SAN, DNS patterns against its DNS SANs
// that are DNS names. A certificate with a sanProblem() never matches.
struct IdentityCheck {
  bool matched = false;
  std::string presented;  // the peer's identity per peerIdentity(), "" if none; for log lines
};
IdentityCheck checkPresentedIdentity(const X509* cert, const std::vector<std::string>& expected);

// The identity expected of an outbound service when `tls.sans` is not set.
std::string defaultServiceIdentity(std::string_view ns, std::string_view service);

// What GET /certs shows. Never includes key material.
struct CertificateDescription {
  std::string subject;  // RFC 2253, e.g. "CN=orders,O=hawser"
  std::string issuer;
  SubjectAltNames sans;
  std::string identity;           // peerIdentity(), "" if none
  std::string serial;             // upper-case hex
  std::int64_t not_before = 0;    // unix seconds
  std::int64_t not_after = 0;     // unix seconds
  std::int64_t seconds_left = 0;  // not_after - now; negative once expired
};
// `now` in unix seconds; 0 means the current time.
CertificateDescription describeCertificate(const X509* cert, std::int64_t now = 0);

}  // namespace hawser::tls
