// Owning handles for OpenSSL objects: std::unique_ptr with the matching free
// function, so every early return releases what was allocated.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>

namespace hawser::tls {

template <auto Free>
struct OpenSslDeleter {
  template <class T>
  void operator()(T* p) const {
    Free(p);
  }
};

using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509_free>>;
using X509CrlPtr = std::unique_ptr<X509_CRL, OpenSslDeleter<X509_CRL_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, OpenSslDeleter<X509_STORE_free>>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, OpenSslDeleter<X509_STORE_CTX_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO_free_all>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, OpenSslDeleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, OpenSslDeleter<SSL_free>>;

// A new reference to an object that is already owned elsewhere.
inline X509Ptr shareCertificate(X509* cert) {
  if (cert != nullptr) X509_up_ref(cert);
  return X509Ptr(cert);
}
inline EvpPkeyPtr shareKey(EVP_PKEY* key) {
  if (key != nullptr) EVP_PKEY_up_ref(key);
  return EvpPkeyPtr(key);
}

}  // namespace hawser::tls
