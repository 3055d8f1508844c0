#include "policy/least_request.h"

namespace hawser::policy {

std::optional<std::size_t> LeastRequest::pick(std::span<const HostView> hosts, std::span<const std::size_t> candidates,
                                              Random& rng) {
  if (candidates.empty()) return std::nullopt;
  if (candidates.size() == 1) return candidates.front();

  const std::uint64_t n = candidates.size();
  const std::uint64_t first = uniformBelow(rng, n);
  std::uint64_t second = uniformBelow(rng, n - 1);
  if (second >= first) ++second;
  const HostView& a = hosts[candidates[first]];
  const HostView& b = hosts[candidates[second]];

  // (active_a + 1) / weight_a <= (active_b + 1) / weight_b, without division.
  const std::uint64_t load_a = (std::uint64_t{a.active_requests} + 1) * effectiveWeight(b);
  const std::uint64_t load_b = (std::uint64_t{b.active_requests} + 1) * effectiveWeight(a);
  return load_a <= load_b ? candidates[first] : candidates[second];
}

}  // namespace hawser::policy
