#include "policy/retry_budget.h"

#include <cmath>

namespace hawser::policy {

RetryBudget::RetryBudget(RetryBudgetPolicy policy) : policy_(policy) {
  if (policy_.min_per_second > 0) {
    // A one-second burst: an idle second's floor is not lost, but it does not
    // accumulate beyond that either.
    const auto burst = static_cast<std::uint32_t>(std::ceil(policy_.min_per_second));
    floor_.emplace(policy_.min_per_second, burst);
  }
}

void RetryBudget::onRequestEnd() {
  if (active_requests_ > 0) --active_requests_;
}

void RetryBudget::onRetryEnd() {
  if (retries_in_flight_ > 0) --retries_in_flight_;
}

bool RetryBudget::withinRatio() const {
  return static_cast<double>(retries_in_flight_ + 1) * 100.0 <= policy_.percent * static_cast<double>(active_requests_);
}

bool RetryBudget::tryStartRetry(TimePoint now) {
  if (withinRatio()) {
    ++retries_in_flight_;
    return true;
  }
  if (floor_ && floor_->tryAcquire(now)) {
    ++retries_in_flight_;
    ++admitted_by_floor_;
    return true;
  }
  ++exhausted_;
  return false;
}

}  // namespace hawser::policy
