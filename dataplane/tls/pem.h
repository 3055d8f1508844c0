// PEM encoding and decoding of certificates, keys and CRLs, and writing them to
// files (atomically, keys with mode 0600).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/tls/openssl_handles.h"

namespace hawser::tls {

// Thrown by the certificate-making functions (development CA, `hawser certs`),
// never on the data path.
class CertificateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string certificateToPem(const X509* cert);
std::string privateKeyToPem(const EVP_PKEY* key);  // PKCS#8, unencrypted
std::string crlToPem(const X509_CRL* crl);

// Every CERTIFICATE block in `pem`, in order; other blocks are skipped. Empty
// when there is none; `*malformed` (when given) is set if a block failed to parse.
std::vector<X509Ptr> certificatesFromPem(std::string_view pem, bool* malformed = nullptr);
// The first private key in `pem` (never prompts for a passphrase), or null.
EvpPkeyPtr privateKeyFromPem(std::string_view pem);
// Every X509 CRL block in `pem`, in order.
std::vector<X509CrlPtr> crlsFromPem(std::string_view pem, bool* malformed = nullptr);

// True when `text` holds at least one "-----BEGIN " line.
bool looksLikePem(std::string_view text);

enum class FileSecrecy { kPublic, kPrivate };  // 0644 or 0600
// Writes `contents` to a temporary file beside `path` and renames it over
// `path`, so a watcher never sees a half-written file. Throws CertificateError.
void writeFileAtomically(const std::string& path, std::string_view contents, FileSecrecy secrecy);
// Reads a whole file; false (with `error` set to strerror) when unreadable.
bool readWholeFile(const std::string& path, std::string& contents, std::string& error);

}  // namespace hawser::tls
