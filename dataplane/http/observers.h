// The exchange observers hawser has today: spans, request metrics and the
// access log. Built per snapshot by each worker (dataplane/worker.cpp).
#pragma once

#include <chrono>
#include <cstdint>

#include <memory>

#include "dataplane/http/exchange.h"

#include "dataplane/config/config.h"

namespace hawser::telemetry {
class AccessLog;
class CaptureShipper;
class TraceExporter;
}  // namespace hawser::telemetry

namespace hawser {

// hawser_requests_total and hawser_request_duration_seconds, in the series
// the exchange resolved (Exchange::stats).
std::unique_ptr<ExchangeObserver> makeMetricsObserver();
// One JSON line per exchange.
std::unique_ptr<ExchangeObserver> makeAccessLogObserver(telemetry::AccessLog& log);

// The spans of sampled exchanges, handed to the exporter.
std::unique_ptr<ExchangeObserver> makeTracingObserver(telemetry::TraceExporter& exporter);

// The capture tee (capture_observer.cpp): a record per sampled exchange,
// redacted, handed to the shipper's shard `worker`.
std::unique_ptr<ExchangeObserver> makeCaptureObserver(telemetry::CaptureShipper& shipper, unsigned worker,
                                                      const config::Capture& settings, std::string_view node_service);

// A plain `protocol: tcp` session, as capture records it (metadata only:
// bytes each way, duration, peer identity, endpoint).
struct TcpSessionFacts {
  bool inbound = false;
  std::string_view cluster;  // the service (outbound) or the inbound cluster
  std::string_view listener;
  std::string_view peer;      // the verified identity of the other side ("" if none)
  std::string_view upstream;  // the endpoint dialled ("" if none)
  std::string_view reason;    // "" or why it ended without one (upstream-connect-failure)
  std::chrono::steady_clock::time_point start;
  uint64_t bytes_in = 0, bytes_out = 0;  // from the client, to the client
};
// Records the session when `settings` want it (sampling, include/exclude).
void captureTcpSession(telemetry::CaptureShipper& shipper, unsigned worker, const config::Capture& settings,
                       std::string_view node_service, const TcpSessionFacts& facts);

// What a worker's observers are compiled from.
struct ObserverInputs {
  const config::Config* config = nullptr;  // null: no snapshot yet (nothing is observed but the access log)
  telemetry::AccessLog* access_log = nullptr;
  telemetry::TraceExporter* tracer = nullptr;    // used when config->tracing
  telemetry::CaptureShipper* shipper = nullptr;  // used when config->capture
  unsigned worker = 0;
};

// The observers for a snapshot: tracing when on (first, so that later
// observers see a finished trace context), metrics when enabled, the access
// log when on, the capture tee when on.
std::shared_ptr<const ExchangeObservers> compileObservers(const ObserverInputs& in);

}  // namespace hawser
