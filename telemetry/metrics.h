// Prometheus metrics. Each worker thread records into its own registry, so
// workers never share a lock or a cache line; a scrape merges the shards.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace hawser::telemetry {

// The series of one (direction, service, peer), resolved once, used per request.
struct RequestStats {
  std::array<prometheus::Counter*, 6> by_class{};  // 1xx..5xx, [0] = other
  prometheus::Histogram* duration = nullptr;
  void record(unsigned status, double seconds) {
    unsigned cls = status / 100;
    by_class[cls >= 1 && cls <= 5 ? cls : 0]->Increment();
    duration->Observe(seconds);
  }
};

// Resilience counters of one service, resolved once per worker.
struct PolicyStats {
  prometheus::Counter* retries = nullptr;
  prometheus::Counter* budget_exhausted = nullptr;
  std::array<prometheus::Counter*, 4> overflow{};  // by policy::Threshold
  prometheus::Counter* ejections = nullptr;
  prometheus::Counter* health_pass = nullptr;  // hawser_health_checks_total{result="pass"}
  prometheus::Counter* health_fail = nullptr;
};

// Failures kept to one connection or one accept (issue 11). Each thread that
// serves connections (every worker, and the main thread for admin) has its own.
struct ServingErrors {
  explicit ServingErrors(prometheus::Registry& registry);
  prometheus::Counter& internal_errors;  // hawser_internal_errors_total: exceptions that escaped a session
  prometheus::Counter& accept_errors;    // hawser_accept_errors_total: failed accepts (EMFILE, ENFILE, ...)
};

// The bound on peer-identity series per (direction, service), across every
// worker: past kMaxPeersPerService identities, a new one is counted under
// peer="other" and in hawser_peer_series_overflow_total, so a caller that
// mints identities cannot grow /metrics without bound.
class PeerSeriesLimit {
 public:
  static constexpr size_t kMaxPeersPerService = 100;
  explicit PeerSeriesLimit(prometheus::Registry& main_registry);
  // The label to use for `peer` (itself, or "other").
  std::string_view admit(std::string_view direction, std::string_view service, std::string_view peer);

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::vector<std::string>> peers_;  // "direction\0service" -> identities
  prometheus::Family<prometheus::Counter>& overflow_;
};

// The metrics one worker writes. Only that worker's thread records into it.
class WorkerMetrics {
 public:
  explicit WorkerMetrics(prometheus::Registry& registry, PeerSeriesLimit* peers = nullptr);

  // Resolves (and caches) the series for a label set. Call at config time
  // or once per connection, never per request. Thread-safe.
  RequestStats& requestStats(std::string_view direction, std::string_view service, std::string_view peer);
  prometheus::Counter& malformed(std::string_view reason);
  prometheus::Counter& rejected(std::string_view reason);
  prometheus::Counter& tlsHandshakeError(std::string_view reason);
  PolicyStats& policyStats(std::string_view service);
  prometheus::Counter& rateLimited(std::string_view listener);

  prometheus::Gauge& downstream_active;
  prometheus::Gauge& upstream_active;
  prometheus::Counter& upstream_opened;
  prometheus::Counter& downstream_accepted;
  ServingErrors serving_errors;

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& durations_;
  prometheus::Family<prometheus::Counter>& malformed_;
  prometheus::Family<prometheus::Counter>& rejected_;
  prometheus::Family<prometheus::Counter>& tls_errors_;
  prometheus::Family<prometheus::Counter>& retries_;
  prometheus::Family<prometheus::Counter>& budget_exhausted_;
  prometheus::Family<prometheus::Counter>& overflow_;
  prometheus::Family<prometheus::Counter>& rate_limited_;
  prometheus::Family<prometheus::Counter>& ejections_;
  prometheus::Family<prometheus::Counter>& health_checks_;
  std::unordered_map<std::string, std::unique_ptr<PolicyStats>> policy_stats_;
  std::unordered_map<std::string, prometheus::Counter*> rate_limited_by_listener_;
  std::unordered_map<std::string, prometheus::Counter*> tls_errors_by_reason_;
  PeerSeriesLimit* peers_ = nullptr;
  std::mutex mutex_;  // guards the caches below (config time only)
  std::unordered_map<std::string, std::unique_ptr<RequestStats>> stats_;
  std::unordered_map<std::string, prometheus::Counter*> malformed_by_reason_;
  std::unordered_map<std::string, prometheus::Counter*> rejected_by_reason_;
};

// Process-wide metrics updated from the main thread.
class MainMetrics {
 public:
  explicit MainMetrics(prometheus::Registry& registry);
  prometheus::Counter& reloads_success;
  prometheus::Counter& reloads_failure;
  prometheus::Family<prometheus::Gauge>& endpoints;  // {service,state}
  prometheus::Counter& discovery_errors;
  prometheus::Counter& tls_reloads_success;
  prometheus::Counter& tls_reloads_failure;
  prometheus::Family<prometheus::Gauge>& cert_expiry;  // {cert}
  ServingErrors serving_errors;
  prometheus::Family<prometheus::Counter>& admin_refused;  // {reason}: admin requests answered 403/400
  prometheus::Counter& access_log_dropped;                 // incremented by the access log's threads (atomic)
  prometheus::Family<prometheus::Counter>& trace_spans;    // {outcome}: the exporter's (dropped: by any worker, atomic)
  prometheus::Family<prometheus::Counter>&
      capture_records;                     // {outcome}: the shipper's (dropped, redacted: by any worker)
  prometheus::Counter& capture_bytes;      // compressed bytes the forwarder acknowledged
  prometheus::Gauge& capture_queue_bytes;  // set at scrape time
};

class Metrics {
 public:
  explicit Metrics(unsigned workers);
  WorkerMetrics& worker(unsigned i) { return *workers_[i]; }
  MainMetrics& main() { return main_; }
  // Prometheus text format of every shard, merged.
  std::string serialize() const;

 private:
  std::vector<std::shared_ptr<prometheus::Registry>> registries_;  // [0] main, then workers
  MainMetrics main_;
  PeerSeriesLimit peer_limit_;
  std::vector<std::unique_ptr<WorkerMetrics>> workers_;
};

}  // namespace hawser::telemetry
