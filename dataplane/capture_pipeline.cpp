#include "dataplane/capture_pipeline.h"

#include <boost/asio/co_spawn.hpp>

#include "dataplane/post_transport.h"
#include "dataplane/tls/identity.h"
#include "dataplane/tls_state.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace hawser {
namespace asio = boost::asio;

CapturePipeline::CapturePipeline(asio::any_io_executor executor, telemetry::MainMetrics& metrics, unsigned workers)
    : executor_(executor), metrics_(metrics) {
  auto transport =
      postTransport(discovery::cloudmap::makeHttpTransport(executor), [this](discovery::cloudmap::HttpRequest& rq) {
        if (!tls_) return;
        rq.tls = tls_->client;
        rq.check_peer = [sans = sans_](SSL* ssl) -> std::string {
          auto check = tls::checkPresentedIdentity(SSL_get0_peer_certificate(ssl), sans);
          if (check.matched) return "";
          return "unexpected identity " + (check.presented.empty() ? std::string("(none)") : check.presented);
        };
      });
  auto& records = metrics.capture_records;
  shipper_ = std::make_unique<telemetry::CaptureShipper>(
      executor, std::move(transport),
      telemetry::ShipperCounters{&records.Add({{"outcome", "sent"}}), &records.Add({{"outcome", "dropped"}}),
                                 &records.Add({{"outcome", "failed"}}), &records.Add({{"outcome", "redacted"}}),
                                 &metrics.capture_bytes},
      workers);
}

void CapturePipeline::configure(const config::Config& cfg, std::shared_ptr<const TlsState> tls) {
  const auto& c = cfg.capture;
  if (!c) return;  // a shipper that ran keeps its queue; nothing new is submitted
  telemetry::ShipperSettings s;
  const auto& host = c->forwarder.host;
  const bool v6 = host.find(':') != std::string::npos;
  s.url = std::string(c->mutual_tls ? "https://" : "http://") + (v6 ? "[" + host + "]" : host) + ":" +
          std::to_string(c->forwarder.port) + "/v1/capture";
  s.timeout = c->timeout;
  s.max_batch_records = c->max_batch_records;
  s.max_batch_bytes = c->max_batch_bytes;
  s.batch_delay = c->batch_delay;
  s.queue_bytes = c->queue_bytes;
  tls_ = c->mutual_tls ? std::move(tls) : nullptr;
  sans_ = c->sans;
  shipper_->configure(std::move(s));
  if (!started_) {
    started_ = true;
    shipper_->start();
    log::info("capture on", {{"forwarder", c->forwarder.str()}, {"tls", c->mutual_tls ? "mutual" : "disabled"}});
  }
}

void CapturePipeline::shutdown(std::chrono::steady_clock::time_point deadline, std::function<void()> done) {
  shipper_->shutdown(deadline, std::move(done));
}

void CapturePipeline::updateGauges() {
  metrics_.capture_queue_bytes.Set(static_cast<double>(shipper_->queuedBytes()));
}

}  // namespace hawser
