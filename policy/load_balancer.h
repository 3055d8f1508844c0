// The load balancer contract (implementations: round_robin.h,
// least_request.h, random_lb.h). A balancer picks one host among candidates
// that healthy_hosts.h has already chosen (healthy, non-ejected, zone, panic),
// so balancers only weigh load and weight.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "policy/random.h"

namespace hawser::policy {

// What policy/ needs to know about one endpoint, as seen by one worker.
struct HostView {
  std::uint32_t weight = 1;  // 0 is treated as 1: drain a host by marking it unhealthy
  std::uint32_t active_requests = 0;
  bool healthy = true;   // health checks and discovery say so
  bool ejected = false;  // outlier detection says so
  std::string_view zone;
};

class LoadBalancer {
 public:
  virtual ~LoadBalancer() = default;

  // Picks one of `candidates` (distinct indices into `hosts`) and returns its
  // index into `hosts`; nullopt when there are no candidates.
  virtual std::optional<std::size_t> pick(std::span<const HostView> hosts, std::span<const std::size_t> candidates,
                                          Random& rng) = 0;
};

enum class LoadBalancerKind : std::uint8_t { round_robin, least_request, random };

// One balancer per worker and service: round robin keeps per-host state.
std::unique_ptr<LoadBalancer> makeLoadBalancer(LoadBalancerKind kind);

inline std::uint32_t effectiveWeight(const HostView& host) {
  return host.weight == 0 ? 1 : host.weight;
}

}  // namespace hawser::policy
