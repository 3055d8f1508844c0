// One table from a failed TLS handshake to the `reason` label of
// hawser_tls_handshake_errors_total.
#pragma once

#include <string_view>

namespace hawser::tls {

namespace reason {
inline constexpr std::string_view kExpired = "expired";  // also not yet valid
inline constexpr std::string_view kUnknownCa = "unknown_ca";
inline constexpr std::string_view kRevoked = "revoked";
inline constexpr std::string_view kNoClientCert = "no_client_cert";
inline constexpr std::string_view kProtocolVersion = "protocol_version";
inline constexpr std::string_view kSanMismatch = "san_mismatch";  // from checkPresentedIdentity, not OpenSSL
// The peer's certificate breaks the SAN rules (identity.h sanProblem: a control
// character in a SAN, or a SPIFFE certificate with several URI SANs).
inline constexpr std::string_view kBadSan = "bad_san";
// CRL checking is on and no CRL of an issuer in the peer's chain is loaded
// (see tls.crl_check: `chain` needs one for every CA above the leaf).
inline constexpr std::string_view kCrlMissing = "crl_missing";
inline constexpr std::string_view kPlaintext = "plaintext";
inline constexpr std::string_view kOther = "other";
}  // namespace reason

// `verify_result`: SSL_get_verify_result() of the failed connection (our view
// of the peer's certificate; X509_V_OK when we did not reject it).
// `openssl_error`: the packed OpenSSL error (ERR_get_error(), or the value of an
// Asio error_code in asio::error::get_ssl_category()); 0 when unknown.
// Covers both what we detected locally and the alerts the peer sent us.
std::string_view handshakeFailureReason(long verify_result, unsigned long openssl_error);

}  // namespace hawser::tls
