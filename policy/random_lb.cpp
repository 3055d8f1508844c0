#include "policy/random_lb.h"

namespace hawser::policy {

std::optional<std::size_t> RandomLb::pick(std::span<const HostView> hosts, std::span<const std::size_t> candidates,
                                          Random& rng) {
  if (candidates.empty()) return std::nullopt;
  std::uint64_t total = 0;
  for (const std::size_t i : candidates) total += effectiveWeight(hosts[i]);
  std::uint64_t point = uniformBelow(rng, total);
  for (const std::size_t i : candidates) {
    const std::uint64_t weight = effectiveWeight(hosts[i]);
    if (point < weight) return i;
    point -= weight;
  }
  return candidates.back();  // unreachable: point < total
}

}  // namespace hawser::policy
