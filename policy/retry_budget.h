// A retry budget, as in Envoy's retry_budget and Linkerd's: retries may keep
// at most `percent` of the active requests company, so a failing upstream
// sees at most (1 + percent/100) times its normal load instead of
// `attempts` times. A floor of `min_per_second` retries (a token bucket with a
// one-second burst) lets low-traffic services still retry.
//
// Counting: "active requests" are downstream requests in flight for the
// service, each counted once however many attempts it makes; "retries in
// flight" are retry attempts started and not yet finished. A retry is allowed
// when (retries_in_flight + 1) <= percent% of active requests; otherwise it
// takes a floor token if one is left; otherwise the budget is exhausted.
//
// Not thread-safe: the dataplane keeps one budget per service, shared by its
// workers behind the service's lock (dataplane/cluster_policy.h).
#pragma once

#include <cstdint>
#include <optional>

#include "policy/clock.h"
#include "policy/token_bucket.h"

namespace hawser::policy {

struct RetryBudgetPolicy {
  double percent = 20.0;         // of active requests; 0 leaves only the floor
  double min_per_second = 10.0;  // floor; 0 disables it
};

class RetryBudget {
 public:
  explicit RetryBudget(RetryBudgetPolicy policy);

  void onRequestStart() { ++active_requests_; }
  void onRequestEnd();

  // Starts a retry when the budget allows; the caller must then call
  // onRetryEnd() when that attempt finishes. Returns false (and counts the
  // exhaustion) otherwise.
  bool tryStartRetry(TimePoint now);
  void onRetryEnd();

  std::uint64_t activeRequests() const { return active_requests_; }
  std::uint64_t retriesInFlight() const { return retries_in_flight_; }
  // Retries refused so far: hawser_retry_budget_exhausted_total.
  std::uint64_t exhausted() const { return exhausted_; }
  // Retries admitted by the floor rather than the ratio.
  std::uint64_t admittedByFloor() const { return admitted_by_floor_; }

 private:
  bool withinRatio() const;

  RetryBudgetPolicy policy_;
  std::optional<TokenBucket> floor_;
  std::uint64_t active_requests_ = 0;
  std::uint64_t retries_in_flight_ = 0;
  std::uint64_t exhausted_ = 0;
  std::uint64_t admitted_by_floor_ = 0;
};

}  // namespace hawser::policy
