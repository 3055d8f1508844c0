// Exponential backoff with jitter between retries.
//
// Retry n (0 for the first retry) waits a delay drawn uniformly from
// [floor, ceiling] where
//   ceiling = min(max, base * 2^n)
//   floor   = min(base / 2, ceiling)
// This is "full jitter" (spreads retries of many clients over the whole window,
// so they do not come back in step) with one change: the delay never drops
// below half the base. An immediate retry after an overload-induced failure
// only adds load; half the base keeps the first retry's mean at 0.75 * base.
#pragma once

#include <chrono>
#include <cstdint>

#include "policy/clock.h"
#include "policy/random.h"

namespace hawser::policy {

struct BackoffPolicy {
  Duration base = std::chrono::milliseconds(25);
  Duration max = std::chrono::milliseconds(250);
};

// Upper bound of the delay before retry `retry` (0-based). Saturates at max.
Duration backoffCeiling(const BackoffPolicy& policy, std::uint32_t retry);
// Lower bound of the delay before retry `retry`.
Duration backoffFloor(const BackoffPolicy& policy, std::uint32_t retry);
// The delay before retry `retry`: uniform in [floor, ceiling], nanosecond grain.
Duration backoffDelay(const BackoffPolicy& policy, std::uint32_t retry, Random& rng);

}  // namespace hawser::policy
