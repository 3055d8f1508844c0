#include "dataplane/tls/identity.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <strings.h>
#include <cstring>
#include <ctime>
#include <memory>

#include "dataplane/tls/openssl_handles.h"

namespace hawser::tls {
namespace {

constexpr std::string_view kSpiffeScheme = "spiffe://";

// An IA5String SAN as text, or nullopt when it embeds a NUL (a classic
// certificate-spoofing trick) or is empty.
std::optional<std::string> ia5Text(const ASN1_IA5STRING* s) {
  if (s == nullptr) return std::nullopt;
  const unsigned char* data = ASN1_STRING_get0_data(s);
  int len = ASN1_STRING_length(s);
  if (data == nullptr || len <= 0) return std::nullopt;
  std::string text(reinterpret_cast<const char*>(data), static_cast<size_t>(len));
  if (text.find('\0') != std::string::npos) return std::nullopt;
  return text;
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
  if (cert == nullptr) return out;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) {
    ERR_clear_error();
    return out;
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
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
  GENERAL_NAMES_free(names);
  return out;
}

bool isSpiffeId(std::string_view uri) {
  return uri.size() > kSpiffeScheme.size() &&
         strncasecmp(uri.data(), kSpiffeScheme.data(), kSpiffeScheme.size()) == 0 && uri[kSpiffeScheme.size()] != '/';
}

std::optional<std::string> peerIdentity(const SubjectAltNames& sans) {
  for (const auto& uri : sans.uris) {
    if (isSpiffeId(uri)) return uri;
  }
  if (!sans.dns.empty()) return sans.dns.front();
  return std::nullopt;
}

std::optional<std::string> peerIdentity(const X509* cert) {
  return peerIdentity(subjectAltNames(cert));
}

bool identityMatches(std::string_view pattern, std::string_view identity) {
  if (identity.empty() || pattern.empty()) return false;
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
  SubjectAltNames sans = subjectAltNames(cert);
  result.presented = peerIdentity(sans).value_or("");
  auto any = [&](const std::vector<std::string>& names) {
    for (const auto& n : names) {
      if (identityAllowed(expected, n)) return true;
    }
    return false;
  };
  result.matched = any(sans.uris) || any(sans.dns);
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
  d.identity = peerIdentity(d.sans).value_or("");
  d.serial = serialHex(cert);
  d.not_before = unixTime(X509_get0_notBefore(cert));
  d.not_after = unixTime(X509_get0_notAfter(cert));
  d.seconds_left = d.not_after - now;
  return d;
}

}  // namespace hawser::tls
