#include "dataplane/tls/handshake_failure.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

namespace hawser::tls {
namespace {

std::string_view fromVerifyResult(long verify_result) {
  switch (verify_result) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
    case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD: return reason::kExpired;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_CERT_UNTRUSTED:
    case X509_V_ERR_CERT_REJECTED: return reason::kUnknownCa;
    case X509_V_ERR_CERT_REVOKED: return reason::kRevoked;
    case X509_V_ERR_UNABLE_TO_GET_CRL: return reason::kCrlMissing;
    // Only our verify callback (ssl_context.cpp) sets this one.
    case X509_V_ERR_APPLICATION_VERIFICATION: return reason::kBadSan;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
    case X509_V_ERR_EMAIL_MISMATCH: return reason::kSanMismatch;
    default: return reason::kOther;
  }
}

std::string_view fromSslReason(int r) {
  switch (r) {
    // Alerts from the peer about our certificate.
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED: return reason::kExpired;
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA: return reason::kUnknownCa;
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED: return reason::kRevoked;
    // The server asked for a certificate and got none (we are the server, or the client told of it).
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED: return reason::kNoClientCert;
    // Downgrade attempts, or a peer that only speaks old versions.
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_WRONG_SSL_VERSION:
    case SSL_R_INAPPROPRIATE_FALLBACK:
    case SSL_R_TLSV1_ALERT_INAPPROPRIATE_FALLBACK: return reason::kProtocolVersion;
    // Bytes that are not a TLS record: plaintext HTTP or another protocol.
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_RECORD_LENGTH_MISMATCH: return reason::kPlaintext;
    default: return reason::kOther;
  }
}

}  // namespace

std::string_view handshakeFailureReason(long verify_result, unsigned long openssl_error) {
  // Our own verdict on the peer's certificate is the most precise.
  if (verify_result != X509_V_OK) {
    std::string_view r = fromVerifyResult(verify_result);
    if (r != reason::kOther) return r;
  }
  if (openssl_error != 0 && ERR_GET_LIB(openssl_error) == ERR_LIB_SSL) {
    return fromSslReason(ERR_GET_REASON(openssl_error));
  }
  return reason::kOther;
}

}  // namespace hawser::tls
