// The exchange observers hawser has today: spans, request metrics and the
// access log. Built per snapshot by each worker (dataplane/worker.cpp).
#pragma once

#include <memory>

#include "dataplane/http/exchange.h"

namespace hawser::telemetry {
class AccessLog;
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

// The observers for a snapshot: tracing when on (first, so that later
// observers see a finished trace context), metrics when enabled, the access
// log when on.
std::shared_ptr<const ExchangeObservers> compileObservers(bool metrics_enabled, telemetry::AccessLog& log,
                                                          telemetry::TraceExporter* tracer);

}  // namespace hawser
