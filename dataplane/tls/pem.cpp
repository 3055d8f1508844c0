#include "dataplane/tls/pem.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace hawser::tls {
namespace {

BioPtr memoryBio() {
  return BioPtr(BIO_new(BIO_s_mem()));
}

BioPtr readOnlyBio(std::string_view pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

std::string drain(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, n > 0 ? static_cast<size_t>(n) : 0);
}

// Refuses to prompt on a terminal for an encrypted key's passphrase.
int noPassphrase(char*, int, int, void*) {
  return 0;
}

void writeAll(int fd, std::string_view contents, const std::string& path) {
  while (!contents.empty()) {
    ssize_t n = ::write(fd, contents.data(), contents.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw CertificateError(path + ": write failed: " + std::strerror(errno));
    }
    contents.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

std::string certificateToPem(const X509* cert) {
  auto bio = memoryBio();
  if (!bio || PEM_write_bio_X509(bio.get(), const_cast<X509*>(cert)) != 1) {
    throw CertificateError("cannot encode a certificate as PEM");
  }
  return drain(bio.get());
}

std::string privateKeyToPem(const EVP_PKEY* key) {
  auto bio = memoryBio();
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    throw CertificateError("cannot encode a private key as PEM");
  }
  return drain(bio.get());
}

std::string crlToPem(const X509_CRL* crl) {
  auto bio = memoryBio();
  if (!bio || PEM_write_bio_X509_CRL(bio.get(), const_cast<X509_CRL*>(crl)) != 1) {
    throw CertificateError("cannot encode a CRL as PEM");
  }
  return drain(bio.get());
}

std::vector<X509Ptr> certificatesFromPem(std::string_view pem, bool* malformed) {
  std::vector<X509Ptr> out;
  if (malformed != nullptr) *malformed = false;
  auto bio = readOnlyBio(pem);
  if (!bio) return out;
  // PEM_read_bio reads block by block; skip keys/CRLs that share the file.
  for (;;) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    if (PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) break;
    if (std::strcmp(name, PEM_STRING_X509) == 0 || std::strcmp(name, PEM_STRING_X509_OLD) == 0 ||
        std::strcmp(name, PEM_STRING_X509_TRUSTED) == 0) {
      const unsigned char* p = data;
      X509* cert =
          std::strcmp(name, PEM_STRING_X509_TRUSTED) == 0 ? d2i_X509_AUX(nullptr, &p, len) : d2i_X509(nullptr, &p, len);
      if (cert != nullptr) {
        out.emplace_back(cert);
      } else if (malformed != nullptr) {
        *malformed = true;
      }
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
  }
  ERR_clear_error();  // the final "no start line" is expected
  return out;
}

EvpPkeyPtr privateKeyFromPem(std::string_view pem) {
  auto bio = readOnlyBio(pem);
  if (!bio) return nullptr;
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, noPassphrase, nullptr));
  ERR_clear_error();
  return key;
}

std::vector<X509CrlPtr> crlsFromPem(std::string_view pem, bool* malformed) {
  std::vector<X509CrlPtr> out;
  if (malformed != nullptr) *malformed = false;
  auto bio = readOnlyBio(pem);
  if (!bio) return out;
  for (;;) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    if (PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) break;
    if (std::strcmp(name, PEM_STRING_X509_CRL) == 0) {
      const unsigned char* p = data;
      X509_CRL* crl = d2i_X509_CRL(nullptr, &p, len);
      if (crl != nullptr) {
        out.emplace_back(crl);
      } else if (malformed != nullptr) {
        *malformed = true;
      }
    } else if (malformed != nullptr) {
      *malformed = true;  // something other than a CRL in a CRL file
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
  }
  ERR_clear_error();
  return out;
}

bool looksLikePem(std::string_view text) {
  return text.find("-----BEGIN ") != std::string_view::npos;
}

void writeFileAtomically(const std::string& path, std::string_view contents, FileSecrecy secrecy) {
  const mode_t mode = secrecy == FileSecrecy::kPrivate ? 0600 : 0644;
  std::random_device rd;
  std::string tmp = path + ".tmp" + std::to_string(rd() % 1000000);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) throw CertificateError(path + ": cannot create: " + std::strerror(errno));
  try {
    // The umask may have narrowed the mode; a key must be exactly 0600.
    if (::fchmod(fd, mode) != 0) throw CertificateError(path + ": chmod failed: " + std::strerror(errno));
    writeAll(fd, contents, path);
    if (::fsync(fd) != 0) throw CertificateError(path + ": fsync failed: " + std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw CertificateError(path + ": cannot replace: " + std::strerror(err));
  }
}

bool readWholeFile(const std::string& path, std::string& contents, std::string& error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = std::strerror(errno);
    return false;
  }
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = std::strerror(errno);  // e.g. EISDIR
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  contents = std::move(out);
  return true;
}

}  // namespace hawser::tls
