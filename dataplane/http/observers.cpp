#include "dataplane/http/observers.h"

#include "telemetry/access_log.h"
#include "telemetry/metrics.h"

namespace hawser {

namespace {
double secondsSince(Exchange::Clock::time_point start) {
  return std::chrono::duration<double>(Exchange::Clock::now() - start).count();
}

class MetricsObserver final : public ExchangeObserver {
 public:
  void onComplete(const Exchange& x) noexcept override {
    if (x.stats) x.stats->record(x.status, secondsSince(x.start));
  }
};

class AccessLogObserver final : public ExchangeObserver {
 public:
  explicit AccessLogObserver(telemetry::AccessLog& log) : log_(log) {}
  void onComplete(const Exchange& x) noexcept override {
    telemetry::AccessRecord r;
    r.request_id = x.request_id;
    r.direction = x.direction == Direction::inbound ? "inbound" : "outbound";
    r.method = x.method;
    r.authority = x.authority;
    r.path = x.path;
    r.upstream = x.upstream;
    r.reason = x.reason;
    r.status = x.status;
    r.duration_ms = secondsSince(x.start) * 1000.0;
    r.bytes_received = x.bytes_in;
    r.bytes_sent = x.bytes_out;
    try {
      log_.write(r);
    } catch (...) {  // an observer never fails the exchange
    }
  }

 private:
  telemetry::AccessLog& log_;
};
}  // namespace

std::unique_ptr<ExchangeObserver> makeMetricsObserver() {
  return std::make_unique<MetricsObserver>();
}

std::unique_ptr<ExchangeObserver> makeAccessLogObserver(telemetry::AccessLog& log) {
  return std::make_unique<AccessLogObserver>(log);
}

std::shared_ptr<const ExchangeObservers> compileObservers(bool metrics_enabled, telemetry::AccessLog& log) {
  auto set = std::make_shared<ExchangeObservers>();
  if (metrics_enabled) set->list.push_back(makeMetricsObserver());
  if (log.enabled()) set->list.push_back(makeAccessLogObserver(log));
  return set;
}

}  // namespace hawser
