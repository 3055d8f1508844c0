#include "policy/token_bucket.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace hawser::policy {

namespace {
constexpr double kMinRps = 0.001;
}

TokenBucket::TokenBucket(double rps, std::uint32_t burst)
    : interval_(static_cast<Duration::rep>(std::llround(1e9 / std::max(rps, kMinRps)))),
      burst_(std::max<std::uint32_t>(burst, 1)) {
  if (interval_.count() < 1) interval_ = Duration{1};
  // Saturate far below overflow so `now + tolerance_` stays representable.
  constexpr Duration::rep kCap = std::numeric_limits<Duration::rep>::max() / 4;
  tolerance_ = Duration{interval_.count() > kCap / burst_ ? kCap : interval_.count() * burst_};
}

bool TokenBucket::tryAcquire(TimePoint now) {
  const TimePoint next = std::max(tat_, now) + interval_;
  if (next - now > tolerance_) return false;
  tat_ = next;
  return true;
}

std::uint32_t TokenBucket::available(TimePoint now) const {
  const TimePoint full = std::max(tat_, now);
  const Duration headroom = tolerance_ - (full - now);
  if (headroom <= Duration{0}) return 0;
  return static_cast<std::uint32_t>(headroom / interval_);
}

Duration TokenBucket::timeUntilNextToken(TimePoint now) const {
  const TimePoint next = std::max(tat_, now) + interval_;
  const Duration wait = (next - now) - tolerance_;
  return std::max(wait, Duration{0});
}

std::chrono::seconds TokenBucket::retryAfter(TimePoint now) const {
  return std::chrono::ceil<std::chrono::seconds>(timeUntilNextToken(now));
}

}  // namespace hawser::policy
