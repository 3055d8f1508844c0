#include "policy/round_robin.h"

#include <algorithm>

namespace hawser::policy {

std::optional<std::size_t> RoundRobin::pick(std::span<const HostView> hosts, std::span<const std::size_t> candidates,
                                            Random&) {
  if (candidates.empty()) return std::nullopt;
  if (current_.size() != hosts.size()) current_.assign(hosts.size(), 0);

  std::int64_t total = 0;
  std::size_t best = candidates.front();
  for (const std::size_t i : candidates) {
    const auto weight = static_cast<std::int64_t>(effectiveWeight(hosts[i]));
    current_[i] += weight;
    total += weight;
    if (current_[i] > current_[best]) best = i;
  }
  current_[best] -= total;
  return best;
}

}  // namespace hawser::policy
