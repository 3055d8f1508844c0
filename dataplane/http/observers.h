// The exchange observers hawser has today: spans, request metrics and the
// access log. Built per snapshot by each worker (dataplane/worker.cpp).
#pragma once

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
