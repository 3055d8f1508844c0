#include "telemetry/metrics.h"

#include <algorithm>

#include <prometheus/text_serializer.h>

#include <map>

namespace hawser::telemetry {
namespace {

const std::vector<double>& durationBuckets() {
  static const std::vector<double> b{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                     0.25,   0.5,   1,      2.5,   5,    10,    30};
  return b;
}

template <class T>
prometheus::Family<T>& family(prometheus::Registry& r, const char* name, const char* help) {
  if constexpr (std::is_same_v<T, prometheus::Counter>) {
    return prometheus::BuildCounter().Name(name).Help(help).Register(r);
  } else if constexpr (std::is_same_v<T, prometheus::Gauge>) {
    return prometheus::BuildGauge().Name(name).Help(help).Register(r);
  } else {
    return prometheus::BuildHistogram().Name(name).Help(help).Register(r);
  }
}

prometheus::Counter& cachedCounter(std::unordered_map<std::string, prometheus::Counter*>& cache,
                                   prometheus::Family<prometheus::Counter>& fam, std::string_view reason) {
  auto key = std::string(reason);
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  auto& c = fam.Add({{"reason", key}});
  cache.emplace(key, &c);
  return c;
}

// Sums one metric of a shard into the merged family.
void mergeInto(prometheus::ClientMetric& to, const prometheus::ClientMetric& from) {
  to.counter.value += from.counter.value;
  to.gauge.value += from.gauge.value;
  to.histogram.sample_count += from.histogram.sample_count;
  to.histogram.sample_sum += from.histogram.sample_sum;
  for (size_t i = 0; i < to.histogram.bucket.size() && i < from.histogram.bucket.size(); ++i) {
    to.histogram.bucket[i].cumulative_count += from.histogram.bucket[i].cumulative_count;
  }
}

std::string labelKey(const prometheus::ClientMetric& m) {
  std::string k;
  for (const auto& l : m.label) k += l.name + '\x1f' + l.value + '\x1e';
  return k;
}

}  // namespace

ServingErrors::ServingErrors(prometheus::Registry& r)
    : internal_errors(family<prometheus::Counter>(r, "hawser_internal_errors_total",
                                                  "Exceptions that escaped a session or task (that connection closed).")
                          .Add({})),
      accept_errors(family<prometheus::Counter>(r, "hawser_accept_errors_total",
                                                "Accepts that failed (e.g. out of file descriptors) and were retried.")
                        .Add({})) {}

PeerSeriesLimit::PeerSeriesLimit(prometheus::Registry& r)
    : overflow_(family<prometheus::Counter>(
          r, "hawser_peer_series_overflow_total",
          "Connections whose peer identity was counted as peer=\"other\": the service already had the maximum "
          "number of peer series.")) {}

std::string_view PeerSeriesLimit::admit(std::string_view direction, std::string_view service, std::string_view peer) {
  if (peer.empty() || peer == "unknown" || peer == "other") return peer;
  std::string key;
  key.append(direction).append(1, '\0').append(service);
  std::lock_guard lock(mutex_);
  auto& known = peers_[key];
  if (std::find(known.begin(), known.end(), peer) != known.end()) return peer;
  if (known.size() < kMaxPeersPerService) {
    known.emplace_back(peer);
    return peer;
  }
  overflow_.Add({{"direction", std::string(direction)}, {"service", std::string(service)}}).Increment();
  return "other";
}

WorkerMetrics::WorkerMetrics(prometheus::Registry& r, PeerSeriesLimit* peers)
    : downstream_active(
          family<prometheus::Gauge>(r, "hawser_downstream_connections_active", "Client connections currently open.")
              .Add({})),
      upstream_active(family<prometheus::Gauge>(r, "hawser_upstream_connections_active",
                                                "Connections to upstreams currently open (in use or pooled).")
                          .Add({})),
      upstream_opened(
          family<prometheus::Counter>(r, "hawser_upstream_connections_total", "Connections opened to upstreams.")
              .Add({})),
      downstream_accepted(
          family<prometheus::Counter>(r, "hawser_downstream_connections_total", "Client connections accepted.")
              .Add({})),
      serving_errors(r),
      requests_(family<prometheus::Counter>(r, "hawser_requests_total", "Requests completed, by status class.")),
      durations_(family<prometheus::Histogram>(r, "hawser_request_duration_seconds",
                                               "Time from request start to the end of the response.")),
      malformed_(family<prometheus::Counter>(r, "hawser_malformed_requests_total",
                                             "Client requests rejected as malformed, by reason.")),
      rejected_(family<prometheus::Counter>(r, "hawser_local_replies_total",
                                            "Responses hawser generated itself, by x-hawser-reason.")),
      tls_errors_(family<prometheus::Counter>(r, "hawser_tls_handshake_errors_total",
                                              "TLS handshakes that failed, by reason.")),
      retries_(family<prometheus::Counter>(r, "hawser_retries_total", "Retries sent to upstreams.")),
      budget_exhausted_(family<prometheus::Counter>(r, "hawser_retry_budget_exhausted_total",
                                                    "Retries not sent because the retry budget was spent.")),
      overflow_(family<prometheus::Counter>(r, "hawser_circuit_breaker_overflow_total",
                                            "Requests or retries refused by a circuit breaker threshold.")),
      rate_limited_(family<prometheus::Counter>(r, "hawser_rate_limited_total",
                                                "Requests refused with 429 by an inbound or outbound rate limit.")),
      ejections_(family<prometheus::Counter>(r, "hawser_outlier_ejections_total",
                                             "Endpoints ejected by passive outlier detection.")),
      health_checks_(family<prometheus::Counter>(r, "hawser_health_checks_total",
                                                 "Active health checks of upstream endpoints, by result.")),
      peers_(peers) {}

PolicyStats& WorkerMetrics::policyStats(std::string_view service) {
  std::lock_guard lock(mutex_);
  auto& slot = policy_stats_[std::string(service)];
  if (!slot) {
    slot = std::make_unique<PolicyStats>();
    std::string s(service);
    slot->retries = &retries_.Add({{"service", s}});
    slot->budget_exhausted = &budget_exhausted_.Add({{"service", s}});
    slot->ejections = &ejections_.Add({{"service", s}});
    slot->health_pass = &health_checks_.Add({{"service", s}, {"result", "pass"}});
    slot->health_fail = &health_checks_.Add({{"service", s}, {"result", "fail"}});
    static const char* names[] = {"max_connections", "max_pending", "max_requests", "max_retries"};
    for (size_t i = 0; i < slot->overflow.size(); ++i) {
      slot->overflow[i] = &overflow_.Add({{"service", s}, {"threshold", names[i]}});
    }
  }
  return *slot;
}

prometheus::Counter& WorkerMetrics::rateLimited(std::string_view listener) {
  std::lock_guard lock(mutex_);
  auto key = std::string(listener);
  auto it = rate_limited_by_listener_.find(key);
  if (it != rate_limited_by_listener_.end()) return *it->second;
  auto& c = rate_limited_.Add({{"listener", key}});
  rate_limited_by_listener_.emplace(key, &c);
  return c;
}

RequestStats& WorkerMetrics::requestStats(std::string_view direction, std::string_view service, std::string_view peer) {
  if (peers_) peer = peers_->admit(direction, service, peer);
  std::string key;
  key.append(direction).append(1, '\0').append(service).append(1, '\0').append(peer);
  std::lock_guard lock(mutex_);
  auto& slot = stats_[key];
  if (!slot) {
    slot = std::make_unique<RequestStats>();
    static const char* classes[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (size_t i = 0; i < slot->by_class.size(); ++i) {
      slot->by_class[i] = &requests_.Add({{"direction", std::string(direction)},
                                          {"service", std::string(service)},
                                          {"peer", std::string(peer)},
                                          {"code_class", classes[i]}});
    }
    slot->duration = &durations_.Add(
        {{"direction", std::string(direction)}, {"service", std::string(service)}, {"peer", std::string(peer)}},
        durationBuckets());
  }
  return *slot;
}

prometheus::Counter& WorkerMetrics::malformed(std::string_view reason) {
  std::lock_guard lock(mutex_);
  return cachedCounter(malformed_by_reason_, malformed_, reason);
}

prometheus::Counter& WorkerMetrics::tlsHandshakeError(std::string_view reason) {
  std::lock_guard lock(mutex_);
  return cachedCounter(tls_errors_by_reason_, tls_errors_, reason);
}

prometheus::Counter& WorkerMetrics::rejected(std::string_view reason) {
  std::lock_guard lock(mutex_);
  return cachedCounter(rejected_by_reason_, rejected_, reason);
}

MainMetrics::MainMetrics(prometheus::Registry& r)
    : reloads_success(family<prometheus::Counter>(r, "hawser_config_reloads_total", "Configuration reloads.")
                          .Add({{"result", "success"}})),
      reloads_failure(family<prometheus::Counter>(r, "hawser_config_reloads_total", "Configuration reloads.")
                          .Add({{"result", "failure"}})),
      endpoints(family<prometheus::Gauge>(r, "hawser_endpoints", "Endpoints known per service, by state.")),
      discovery_errors(family<prometheus::Counter>(r, "hawser_discovery_errors_total",
                                                   "Discovery refreshes that failed (last known set kept).")
                           .Add({})),
      tls_reloads_success(family<prometheus::Counter>(r, "hawser_tls_reloads_total", "Reloads of certificate material.")
                              .Add({{"result", "success"}})),
      tls_reloads_failure(family<prometheus::Counter>(r, "hawser_tls_reloads_total", "Reloads of certificate material.")
                              .Add({{"result", "failure"}})),
      cert_expiry(family<prometheus::Gauge>(r, "hawser_cert_expiry_timestamp_seconds",
                                            "notAfter of the certificates in use (unix seconds).")),
      serving_errors(r),
      admin_refused(
          family<prometheus::Counter>(r, "hawser_admin_refused_total",
                                      "Admin requests refused (cross-site, foreign Host, simple POST), by reason.")),
      access_log_dropped(family<prometheus::Counter>(r, "hawser_access_log_dropped_total",
                                                     "Access log lines lost: buffer full or write failed.")
                             .Add({})),
      trace_spans(family<prometheus::Counter>(r, "hawser_trace_spans_total",
                                              "Finished spans, by outcome: exported, dropped (the export queue was "
                                              "full), failed (the collector refused them or stayed unreachable).")),
      capture_records(family<prometheus::Counter>(
          r, "hawser_capture_records_total",
          "Capture records, by outcome: sent (the forwarder acknowledged them), dropped (the queue was full), failed "
          "(the forwarder refused them, or the drain bound ran out), redacted (submitted with a header value "
          "replaced; also counted in one of the others).")),
      capture_bytes(family<prometheus::Counter>(r, "hawser_capture_bytes_total",
                                                "Compressed capture batch bytes the forwarder acknowledged.")
                        .Add({})),
      capture_queue_bytes(family<prometheus::Gauge>(r, "hawser_capture_queue_bytes",
                                                    "Capture records waiting or in flight, in bytes (bounded by "
                                                    "capture.queue_bytes).")
                              .Add({})) {
  for (const char* outcome : {"exported", "dropped", "failed"}) trace_spans.Add({{"outcome", outcome}});
  for (const char* outcome : {"sent", "dropped", "failed", "redacted"}) capture_records.Add({{"outcome", outcome}});
}

Metrics::Metrics(unsigned workers)
    : registries_{std::make_shared<prometheus::Registry>()}, main_(*registries_[0]), peer_limit_(*registries_[0]) {
  for (unsigned i = 0; i < workers; ++i) {
    registries_.push_back(std::make_shared<prometheus::Registry>());
    workers_.push_back(std::make_unique<WorkerMetrics>(*registries_.back(), &peer_limit_));
  }
}

std::string Metrics::serialize() const {
  std::vector<prometheus::MetricFamily> merged;
  std::map<std::string, size_t> family_index;
  std::vector<std::map<std::string, size_t>> metric_index;
  for (const auto& reg : registries_) {
    for (auto& fam : reg->Collect()) {
      auto [it, fresh] = family_index.emplace(fam.name, merged.size());
      if (fresh) {
        merged.push_back(fam);
        merged.back().metric.clear();
        metric_index.emplace_back();
      }
      auto& into = merged[it->second];
      auto& index = metric_index[it->second];
      for (auto& m : fam.metric) {
        auto [mit, mfresh] = index.emplace(labelKey(m), into.metric.size());
        if (mfresh)
          into.metric.push_back(std::move(m));
        else
          mergeInto(into.metric[mit->second], m);
      }
    }
  }
  return prometheus::TextSerializer().Serialize(merged);
}

}  // namespace hawser::telemetry
