// The exchange observers hawser has today: request metrics and the access
// log. Built per snapshot by each worker (dataplane/worker.cpp).
#pragma once

#include <memory>

#include "dataplane/http/exchange.h"

namespace hawser::telemetry {
class AccessLog;
}

namespace hawser {

// hawser_requests_total and hawser_request_duration_seconds, in the series
// the exchange resolved (Exchange::stats).
std::unique_ptr<ExchangeObserver> makeMetricsObserver();
// One JSON line per exchange.
std::unique_ptr<ExchangeObserver> makeAccessLogObserver(telemetry::AccessLog& log);

// The observers for a snapshot: metrics when enabled, the access log when on.
std::shared_ptr<const ExchangeObservers> compileObservers(bool metrics_enabled, telemetry::AccessLog& log);

}  // namespace hawser
