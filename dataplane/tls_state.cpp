#include "dataplane/tls_state.h"

#include <sys/stat.h>

#include "dataplane/tls/ssl_context.h"
#include "dataplane/tls/tls_material.h"
#include "telemetry/log.h"

namespace hawser {

std::shared_ptr<const TlsState> buildTlsState(const config::Tls& files, std::string& error) {
  auto loaded = tls::loadTlsMaterial({files.cert, files.key, files.ca, files.crl});
  if (!loaded.ok()) {
    error = loaded.error;
    return nullptr;
  }
  const auto& material = *loaded.material;
  const int min_version = files.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
  const auto crl_scope = files.crl_check == "leaf" ? tls::CrlScope::kLeaf : tls::CrlScope::kChain;
  // Revocation checking fails closed: say so now rather than at each refused handshake.
  for (const auto& issuer : tls::issuersWithoutCrl(material, crl_scope)) {
    log::warn(
        "tls.crl has no CRL of a CA on this task's own certificate path; peers issued under it will be "
        "refused (hawser_tls_handshake_errors_total{reason=\"crl_missing\"})",
        {{"issuer", issuer},
         {"crl", files.crl},
         {"crl_check", files.crl_check},
         {"fix", files.crl_check == "chain" ? "add the CA's CRL, or set tls.crl_check: leaf" : "add the CA's CRL"}});
  }
  tls::SslContextOptions server_opts{tls::TlsRole::kServer, min_version, true, false, crl_scope};
  tls::SslContextOptions client_opts{tls::TlsRole::kClient, min_version, true, true, crl_scope};
  auto server = tls::buildSslContext(material, server_opts, error);
  if (!server) return nullptr;
  auto client = tls::buildSslContext(material, client_opts, error);
  if (!client) return nullptr;

  auto state = std::make_shared<TlsState>();
  state->server = std::make_shared<boost::asio::ssl::context>(server.release());
  state->client = std::make_shared<boost::asio::ssl::context>(client.release());
  state->certificate = tls::describeCertificate(material.cert.get());
  state->identity = state->certificate.identity;
  for (const auto& ca : material.ca_certs) state->cas.push_back(tls::describeCertificate(ca.get()));
  state->files = files;
  return state;
}

TlsFileStamps stampTlsFiles(const config::Tls& files) {
  TlsFileStamps s;
  for (const auto* path : {&files.cert, &files.key, &files.ca, &files.crl}) {
    struct stat st {};
    if (path->empty() || ::stat(path->c_str(), &st) != 0) {
      s.stamps.emplace_back(-1, -1);
    } else {
      s.stamps.emplace_back(st.st_mtim.tv_sec * 1'000'000'000L + st.st_mtim.tv_nsec, static_cast<long>(st.st_size));
    }
  }
  return s;
}

}  // namespace hawser
