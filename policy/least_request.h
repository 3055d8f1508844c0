// Least request by the power of two choices: sample two distinct candidates
// at random and take the less loaded, where load is
// (active_requests + 1) / weight; a tie goes to the first sampled. Avoids
// the herd that "pick the global minimum" causes when every worker sees the
// same minimum, at O(1) per pick.
#pragma once

#include "policy/load_balancer.h"

namespace hawser::policy {

class LeastRequest final : public LoadBalancer {
 public:
  std::optional<std::size_t> pick(std::span<const HostView> hosts, std::span<const std::size_t> candidates,
                                  Random& rng) override;
};

}  // namespace hawser::policy
