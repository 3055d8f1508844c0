#include "policy/backoff.h"

#include <algorithm>

namespace hawser::policy {

Duration backoffCeiling(const BackoffPolicy& policy, std::uint32_t retry) {
  const auto base = std::max(policy.base.count(), Duration::rep{0});
  const auto max = std::max(policy.max.count(), Duration::rep{0});
  if (base == 0) return Duration{0};
  // base << retry, without overflowing: stop doubling once past max.
  Duration::rep ceiling = base;
  for (std::uint32_t i = 0; i < retry && ceiling < max; ++i) {
    ceiling = ceiling > max / 2 ? max : ceiling * 2;
  }
  return Duration{std::min(ceiling, max)};
}

Duration backoffFloor(const BackoffPolicy& policy, std::uint32_t retry) {
  const Duration half_base{std::max(policy.base.count(), Duration::rep{0}) / 2};
  return std::min(half_base, backoffCeiling(policy, retry));
}

Duration backoffDelay(const BackoffPolicy& policy, std::uint32_t retry, Random& rng) {
  const Duration ceiling = backoffCeiling(policy, retry);
  const Duration floor = backoffFloor(policy, retry);
  const auto span = static_cast<std::uint64_t>((ceiling - floor).count());
  return floor + Duration{static_cast<Duration::rep>(uniformBelow(rng, span + 1))};
}

}  // namespace hawser::policy
