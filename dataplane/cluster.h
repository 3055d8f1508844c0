// A named set of upstream endpoints with its policy. The endpoint set is
// replaced by discovery on the main thread and posted to each worker's slot;
// a worker reads only its own slot, so picking takes no lock.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/cluster_policy.h"
#include "dataplane/config/config.h"
#include "discovery/endpoint.h"
#include "policy/healthy_hosts.h"
#include "policy/load_balancer.h"
#include "policy/outlier_detector.h"
#include "policy/random.h"
#include "policy/route_split.h"

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

// One compiled `routes[]` entry of a service: what it matches, where its
// traffic goes (subsets of the endpoints by weight) and its policy overrides.
struct ClusterRoute {
  std::string prefix = "/";
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case name, exact value
  std::optional<policy::RouteSplit> split;                   // none: every endpoint
  std::vector<size_t> subset_ids;                            // split entry -> Cluster subset id
  std::optional<policy::RetryPolicy> retry;                  // overrides the service's
  std::optional<config::Timeouts> timeouts;                  // overrides the service's
};

class Cluster {
 public:
  Cluster(std::string name, config::Timeouts timeouts, config::LoadBalancer lb, config::Protocol protocol,
          unsigned workers, policy::HostSelectionPolicy hosts = {});

  const std::string& name() const { return name_; }
  const config::Timeouts& timeouts() const { return timeouts_; }
  config::Protocol protocol() const { return protocol_; }
  const policy::HostSelectionPolicy& hostSelection() const { return hosts_; }

  // Before the first install: the service's routes. Their subsets are
  // matched against each endpoint set when it is installed, not per request.
  void setRoutes(std::vector<ClusterRoute> routes);
  const std::vector<ClusterRoute>& routes() const { return routes_; }
  // The first route matching the request, or null (every endpoint, service policy).
  template <class Request>
  const ClusterRoute* matchRoute(const Request& req) const;

  // Worker thread: the subset a request on `route` goes to (nullopt: every
  // endpoint). `pin` (the x-hawser-subset header) names a subset to use
  // whatever its weight; otherwise subsets are drawn by weight among those
  // that have endpoints.
  std::optional<size_t> chooseSubset(unsigned worker, const ClusterRoute& route, std::string_view pin);

  // Worker thread: choose an endpoint (of `subset` when given), avoiding
  // `avoid` when another candidate exists. Null when there is none.
  discovery::EndpointPtr pick(unsigned worker, const discovery::Endpoint* avoid = nullptr,
                              std::optional<size_t> subset = std::nullopt);
  // Worker thread: install a set posted from the main thread.
  void install(unsigned worker, std::shared_ptr<const discovery::EndpointSet> set);

  // Worker thread: the set installed for `worker` (transparent egress matches
  // original destinations against it).
  const std::shared_ptr<const discovery::EndpointSet>& endpoints(unsigned worker) const {
    return slots_[worker].endpoints;
  }
  // Main thread: the newest set (what workers will have once posts land).
  std::shared_ptr<const discovery::EndpointSet> latest() const;
  void setLatest(std::shared_ptr<const discovery::EndpointSet> set);

  // Outbound mutual TLS: the identities the peer may present.
  bool mutual_tls = false;
  uint32_t max_requests_per_connection = 0;  // 0: no limit
  // A connection that carried this many requests is not used again.
  bool connectionSpent(uint32_t requests) const {
    return max_requests_per_connection && requests >= max_requests_per_connection;
  }
  std::vector<std::string> expected_sans;
  std::string tls_pool_tag;  // "|tls|" + the expected identities

  // Passive outlier detection; null when not configured.
  std::unique_ptr<class OutlierTracker> outlier;
  // Active health checks (run by dataplane/health_checker.h); none when not configured.
  std::optional<config::HealthCheck> health_check;

  // Circuit breaker, retry policy and budget (shared by the workers).
  std::shared_ptr<ClusterPolicy> policy;
  // Outbound rate limit of the service; null when not configured.
  std::shared_ptr<RateLimiter> rate_limiter;

  // Metric series per worker, resolved when the snapshot is compiled.
  std::vector<telemetry::RequestStats*> stats;
  std::vector<telemetry::PolicyStats*> policy_stats;

 private:
  struct alignas(64) Slot {
    std::shared_ptr<const discovery::EndpointSet> endpoints;
    std::vector<std::vector<size_t>> members;                      // per subset id: endpoint indices
    std::vector<std::unique_ptr<policy::LoadBalancer>> balancers;  // per subset id, then one for all
    std::vector<policy::HostView> views;                           // scratch, per pick
    std::vector<size_t> index;                                     // scratch: view -> endpoint index
    std::vector<size_t> candidates;                                // scratch
    policy::Random rng{std::random_device{}()};
  };
  std::string name_;
  config::Timeouts timeouts_;
  config::LoadBalancer lb_;
  config::Protocol protocol_;
  policy::HostSelectionPolicy hosts_;
  std::vector<ClusterRoute> routes_;
  std::vector<std::map<std::string, std::string>> subsets_;  // unique selectors of every route's split
  std::vector<Slot> slots_;
  mutable std::mutex latest_mutex_;
  std::shared_ptr<const discovery::EndpointSet> latest_;
};

template <class Request>
const ClusterRoute* Cluster::matchRoute(const Request& req) const {
  const auto target = req.target();
  for (const auto& r : routes_) {
    if (std::string_view(target.data(), target.size()).substr(0, r.prefix.size()) != r.prefix) continue;
    bool ok = true;
    for (const auto& [name, value] : r.headers) {
      auto it = req.find(name);
      if (it == req.end() || std::string_view(it->value().data(), it->value().size()) != value) {
        ok = false;
        break;
      }
    }
    if (ok) return &r;
  }
  return nullptr;
}

}  // namespace hawser
