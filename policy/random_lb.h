// Weighted random: each candidate with probability weight / sum(weights).
#pragma once

#include "policy/load_balancer.h"

namespace hawser::policy {

class RandomLb final : public LoadBalancer {
 public:
  std::optional<std::size_t> pick(std::span<const HostView> hosts, std::span<const std::size_t> candidates,
                                  Random& rng) override;
};

}  // namespace hawser::policy
