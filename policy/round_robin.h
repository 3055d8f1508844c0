// Smooth weighted round robin (nginx's): over any window of sum(weights)
// picks, each host is picked exactly its weight times, and picks of heavy
// hosts are spread out rather than sent in bursts.
#pragma once

#include <cstdint>
#include <vector>

#include "policy/load_balancer.h"

namespace hawser::policy {

class RoundRobin final : public LoadBalancer {
 public:
  std::optional<std::size_t> pick(std::span<const HostView> hosts, std::span<const std::size_t> candidates,
                                  Random& rng) override;

 private:
  std::vector<std::int64_t> current_;  // per host index; reset when the host count changes
};

}  // namespace hawser::policy
