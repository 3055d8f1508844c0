#include "dataplane/tls/identity.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <strings.h>
#include <cctype>
#include <cstring>
#include <ctime>
#include <memory>

#include "dataplane/tls/openssl_handles.h"

namespace hawser::tls {
namespace {

constexpr std::string_view kSpiffeScheme = "spiffe://";

// Bytes no SAN may hold: NUL (the classic certificate-spoofing trick), the
// other C0 controls and DEL (CR/LF would split a header or a log line), and
// bytes >= 0x80, which an IA5String cannot hold.
bool hasForbiddenByte(std::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c >= 0x7f) return true;
  }
  return false;
}

std::string_view ia5View(const ASN1_IA5STRING* s) {
  if (s == nullptr) return {};
  const unsigned char* data = ASN1_STRING_get0_data(s);
  int len = ASN1_STRING_length(s);
  if (data == nullptr || len <= 0) return {};
  return {reinterpret_cast<const char*>(data), static_cast<size_t>(len)};
}

// An IA5String SAN as text, or nullopt when it is empty or holds a forbidden byte.
std::optional<std::string> ia5Text(const ASN1_IA5STRING* s) {
  std::string_view text = ia5View(s);
  if (text.empty() || hasForbiddenByte(text)) return std::nullopt;
  return std::string(text);
}

using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, OpenSslDeleter<GENERAL_NAMES_free>>;

GeneralNamesPtr generalNames(const X509* cert) {
  if (cert == nullptr) return nullptr;
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) ERR_clear_error();
  return names;
}

bool isLdhLabel(std::string_view label) {
  if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
  for (unsigned char c : label) {
    if (!std::isalnum(c) && c != '-') return false;
  }
  return true;
}

std::optional<std::string> ipText(const ASN1_OCTET_STRING* s) {
  if (s == nullptr) return std::nullopt;
  const unsigned char* data = ASN1_STRING_get0_data(s);
  int len = ASN1_STRING_length(s);
  char buf[INET6_ADDRSTRLEN] = {};
  if (len == 4 && inet_ntop(AF_INET, data, buf, sizeof buf) != nullptr) return std::string(buf);
  if (len == 16 && inet_ntop(AF_INET6, data, buf, sizeof buf) != nullptr) return std::string(buf);
  return std::nullopt;
}

std::string nameText(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || name == nullptr) return {};
  if (X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) return {};
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, n > 0 ? static_cast<size_t>(n) : 0);
}

std::int64_t unixTime(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<std::int64_t>(timegm(&tm));
}

std::string serialHex(const X509* cert) {
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);
  std::unique_ptr<BIGNUM, OpenSslDeleter<BN_free>> bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (!bn) return {};
  char* hex = BN_bn2hex(bn.get());
  if (hex == nullptr) return {};
  std::string out(hex);
  OPENSSL_free(hex);
  return out;
}

}  // namespace

SubjectAltNames subjectAltNames(const X509* cert) {
  SubjectAltNames out;
  GeneralNamesPtr names = generalNames(cert);
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    switch (gn->type) {
      case GEN_URI:
        if (auto v = ia5Text(gn->d.uniformResourceIdentifier)) out.uris.push_back(std::move(*v));
        break;
      case GEN_DNS:
        if (auto v = ia5Text(gn->d.dNSName)) out.dns.push_back(std::move(*v));
        break;
      case GEN_IPADD:
        if (auto v = ipText(gn->d.iPAddress)) out.ip_addresses.push_back(std::move(*v));
        break;
      default: break;
    }
  }
  return out;
}

SanProblem sanProblem(const X509* cert) {
  GeneralNamesPtr names = generalNames(cert);
  if (!names) return SanProblem::kNone;
  int uris = 0;
  bool spiffe = false;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    std::string_view text;
    switch (gn->type) {
      case GEN_URI:
        text = ia5View(gn->d.uniformResourceIdentifier);
        ++uris;
        spiffe = spiffe || isSpiffeId(text);
        break;
      case GEN_DNS: text = ia5View(gn->d.dNSName); break;
      case GEN_EMAIL: text = ia5View(gn->d.rfc822Name); break;
      default: continue;
    }
    if (hasForbiddenByte(text)) return SanProblem::kControlCharacter;
  }
  return spiffe && uris > 1 ? SanProblem::kMultipleUris : SanProblem::kNone;
}

std::string_view describe(SanProblem problem) {
  switch (problem) {
    case SanProblem::kNone: return "none";
    case SanProblem::kControlCharacter: return "a SAN holds a control character, NUL or a non-ASCII byte";
    case SanProblem::kMultipleUris: return "a SPIFFE certificate must carry exactly one URI SAN";
  }
  return "unknown";
}

bool isSpiffeId(std::string_view uri) {
  return uri.size() > kSpiffeScheme.size() &&
         strncasecmp(uri.data(), kSpiffeScheme.data(), kSpiffeScheme.size()) == 0 && uri[kSpiffeScheme.size()] != '/';
}

bool isDnsName(std::string_view name) {
  if (name.starts_with("*.")) name.remove_prefix(2);
  if (name.ends_with('.')) name.remove_suffix(1);  // fully qualified
  if (name.empty() || name.size() > 253) return false;
  for (size_t start = 0;;) {
    size_t dot = name.find('.', start);
    if (!isLdhLabel(name.substr(start, dot - start))) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool isUriPattern(std::string_view pattern) {
  return pattern.find("://") != std::string_view::npos;
}

std::optional<std::string> peerIdentity(const SubjectAltNames& sans) {
  for (const auto& uri : sans.uris) {
    if (isSpiffeId(uri)) {
      if (sans.uris.size() != 1) return std::nullopt;  // not an X.509-SVID
      return uri;
    }
  }
  for (const auto& dns : sans.dns) {
    if (isDnsName(dns)) return dns;
  }
  return std::nullopt;
}

std::optional<std::string> peerIdentity(const X509* cert) {
  // subjectAltNames() skips names it cannot use; a certificate with such a
  // name, or a second URI SAN, proves nothing (as the handshake decides).
  if (sanProblem(cert) != SanProblem::kNone) return std::nullopt;
  return peerIdentity(subjectAltNames(cert));
}

bool identityMatches(std::string_view pattern, std::string_view identity) {
  if (identity.empty() || pattern.empty()) return false;
  if (pattern == "*") return true;
  // A SPIFFE pattern never matches a DNS name, nor a DNS pattern a SPIFFE ID.
  if (isUriPattern(pattern) != isUriPattern(identity)) return false;
  if (pattern.back() == '*') {
    pattern.remove_suffix(1);
    return identity.substr(0, pattern.size()) == pattern;
  }
  return pattern == identity;
}

bool identityAllowed(const std::vector<std::string>& patterns, std::string_view identity) {
  for (const auto& p : patterns) {
    if (identityMatches(p, identity)) return true;
  }
  return false;
}

IdentityCheck checkPresentedIdentity(const X509* cert, const std::vector<std::string>& expected) {
  IdentityCheck result;
  if (sanProblem(cert) != SanProblem::kNone) return result;  // presents no identity
  SubjectAltNames sans = subjectAltNames(cert);
  result.presented = peerIdentity(sans).value_or("");
  auto any = [&](const std::vector<std::string>& names, bool uri) {
    for (const auto& n : names) {
      // A URI SAN is matched as a URI, a DNS SAN only when it is a DNS name.
      if ((uri ? isUriPattern(n) : isDnsName(n)) && identityAllowed(expected, n)) return true;
    }
    return false;
  };
  result.matched = any(sans.uris, true) || any(sans.dns, false);
  return result;
}

std::string defaultServiceIdentity(std::string_view ns, std::string_view service) {
  std::string out(kSpiffeScheme);
  out.append(ns).append("/").append(service);
  return out;
}

CertificateDescription describeCertificate(const X509* cert, std::int64_t now) {
  CertificateDescription d;
  if (cert == nullptr) return d;
  if (now == 0) now = static_cast<std::int64_t>(std::time(nullptr));
  d.subject = nameText(X509_get_subject_name(cert));
  d.issuer = nameText(X509_get_issuer_name(cert));
  d.sans = subjectAltNames(cert);
  d.identity = peerIdentity(cert).value_or("");
  d.serial = serialHex(cert);
  d.not_before = unixTime(X509_get0_notBefore(cert));
  d.not_after = unixTime(X509_get0_notAfter(cert));
  d.seconds_left = d.not_after - now;
  return d;
}

}  // namespace hawser::tls
