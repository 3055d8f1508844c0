// `hawser forwarder`: one per cluster. Accepts capture batches from the
// sidecars (POST /v1/capture, gzip'ed NDJSON, over mutual TLS when `tls` is
// set, the sender's identity checked against authorization.allow),
// validates and redacts every record, appends them to the spool and answers
// 200 only once they are durable; 503 with Retry-After past the spool's
// quota. The archiver uploads closed segments. An admin server with /ready,
// /server_info and /metrics. One I/O thread, one archiver thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <prometheus/registry.h>

#include <chrono>
#include <memory>
#include <string>

#include "dataplane/admin_server.h"
#include "dataplane/forwarder/forwarder_config.h"
#include "telemetry/capture/archiver.h"
#include "telemetry/capture/spool.h"
#include "telemetry/metrics.h"

namespace prometheus {
class Counter;
class Gauge;
}  // namespace prometheus

namespace hawser {
struct TlsState;
}
namespace hawser::discovery::cloudmap {
class CredentialsProvider;
}

namespace hawser::forwarder {

struct BatchResult {
  unsigned status = 200;
  std::string body;         // JSON
  std::string retry_after;  // with 503
};

class Forwarder final : public AdminSite {
 public:
  explicit Forwarder(ForwarderConfig cfg);
  ~Forwarder() override;
  // Binds, serves until SIGTERM/SIGINT, drains; the exit code.
  int run(const std::string& admin_address_path);

  // One POST /v1/capture body (already read), from `identity` ("" without TLS).
  BatchResult acceptBatch(std::string_view body, std::string_view content_encoding);

  // AdminSite
  std::optional<AdminResponse> serveAdmin(std::string_view method, std::string_view path) override;
  std::string adminEndpoints() const override;
  std::string_view adminHost() const override { return cfg_.admin.host; }
  std::span<const std::string> adminAllowedHosts() const override { return {}; }

  bool allowed(std::string_view identity) const;
  bool draining() const { return draining_; }
  const std::shared_ptr<const TlsState>& tls() const { return tls_; }
  telemetry::ServingErrors& servingErrors() { return errors_; }
  const ForwarderConfig& config() const { return cfg_; }
  prometheus::Counter& refusedPeers() { return *refused_peers_; }

 private:
  std::unique_ptr<telemetry::ArchiveSink> makeS3Sink(const S3Storage& s3);
  void rollTimer();
  void drain();
  std::string metricsText();

  ForwarderConfig cfg_;
  boost::asio::io_context ctx_{1};
  prometheus::Registry registry_;
  telemetry::ServingErrors errors_;
  prometheus::Family<prometheus::Counter>& admin_refused_;
  prometheus::Family<prometheus::Counter>& batches_;  // {code}
  prometheus::Counter* records_stored_;
  prometheus::Counter* records_redacted_;
  prometheus::Counter* refused_peers_;
  prometheus::Gauge* spool_bytes_;
  prometheus::Gauge* segments_open_;
  prometheus::Gauge* segments_closed_;
  telemetry::Spool spool_;
  std::shared_ptr<discovery::cloudmap::CredentialsProvider> credentials_;  // storage.s3
  std::unique_ptr<telemetry::ArchiveSink> sink_;
  std::unique_ptr<telemetry::Archiver> archiver_;
  std::shared_ptr<const TlsState> tls_;
  std::shared_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::unique_ptr<AdminServer> admin_;
  boost::asio::steady_timer roll_timer_;
  boost::asio::signal_set signals_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  bool live_ = false;
  bool draining_ = false;
};

// `hawser forwarder [--config FILE] [--admin-address-path FILE]`
int forwarderMain(const std::vector<std::string>& args);

}  // namespace hawser::forwarder
