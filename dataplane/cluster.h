// A named set of upstream endpoints with its policy. The endpoint set is
// replaced by discovery on the main thread and posted to each worker's slot;
// a worker reads only its own slot, so picking takes no lock.
#pragma once

#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "dataplane/cluster_policy.h"
#include "dataplane/config/config.h"
#include "discovery/endpoint.h"
#include "policy/outlier_detector.h"

namespace hawser::telemetry {
struct RequestStats;
struct PolicyStats;
}  // namespace hawser::telemetry

namespace hawser {

// The policy's OutlierDetector for one cluster, shared by the workers behind a
// mutex (held for a few instructions per finished attempt). Ejection shows on
// the Endpoint objects, which the load balancers read without a lock.
class OutlierTracker {
 public:
  explicit OutlierTracker(policy::OutlierDetectionPolicy p) : detector_(p) {}
  // Main thread: the newest endpoint set; state follows endpoints by address.
  void setEndpoints(const discovery::EndpointSet& set);
  // Any thread: one finished attempt against `e`.
  std::optional<policy::EjectionEvent> record(discovery::Endpoint& e, const policy::UpstreamOutcome& outcome,
                                              policy::TimePoint now);
  // Main thread, periodically: returns ejected endpoints whose time is up.
  void evaluate(policy::TimePoint now);

 private:
  std::mutex mutex_;
  policy::OutlierDetector detector_;
  std::vector<discovery::EndpointPtr> endpoints_;  // detector index -> endpoint
};

class Cluster {
 public:
  Cluster(std::string name, config::Timeouts timeouts, config::LoadBalancer lb, config::Protocol protocol,
          unsigned workers);

  const std::string& name() const { return name_; }
  const config::Timeouts& timeouts() const { return timeouts_; }
  config::Protocol protocol() const { return protocol_; }

  // Worker thread: choose an endpoint, avoiding `avoid` when another exists.
  // Null when the set is empty.
  discovery::EndpointPtr pick(unsigned worker, const discovery::Endpoint* avoid = nullptr);
  // Worker thread: install a set posted from the main thread.
  void install(unsigned worker, std::shared_ptr<const discovery::EndpointSet> set);

  // Main thread: the newest set (what workers will have once posts land).
  std::shared_ptr<const discovery::EndpointSet> latest() const;
  void setLatest(std::shared_ptr<const discovery::EndpointSet> set);

  // Outbound mutual TLS: the identities the peer may present.
  bool mutual_tls = false;
  std::vector<std::string> expected_sans;
  std::string tls_pool_tag;  // "|tls|" + the expected identities

  // Passive outlier detection; null when not configured.
  std::unique_ptr<class OutlierTracker> outlier;

  // Circuit breaker, retry policy and budget (shared by the workers).
  std::shared_ptr<ClusterPolicy> policy;

  // Metric series per worker, resolved when the snapshot is compiled.
  std::vector<telemetry::RequestStats*> stats;
  std::vector<telemetry::PolicyStats*> policy_stats;

 private:
  struct alignas(64) Slot {
    std::shared_ptr<const discovery::EndpointSet> endpoints;
    size_t cursor = 0;
    discovery::EndpointSet usable;  // scratch: the non-ejected endpoints
    std::minstd_rand rng{std::random_device{}()};
  };
  std::string name_;
  config::Timeouts timeouts_;
  config::LoadBalancer lb_;
  config::Protocol protocol_;
  std::vector<Slot> slots_;
  mutable std::mutex latest_mutex_;
  std::shared_ptr<const discovery::EndpointSet> latest_;
};

}  // namespace hawser
