// The shared, stateful part of a cluster's resilience policy: the circuit
// breaker and the retry budget. Decisions are policy/'s; this only guards the
// state with a mutex (held for a few instructions) since every worker uses it.
#pragma once

#include <mutex>
#include <optional>

#include "policy/circuit_breaker.h"
#include "policy/retry_budget.h"
#include "policy/retry_policy.h"
#include "policy/token_bucket.h"

namespace hawser {

class ClusterPolicy {
 public:
  ClusterPolicy(policy::RetryPolicy retry, policy::CircuitBreakerThresholds thresholds)
      : retry_(std::move(retry)), breaker_(thresholds), budget_(retry_.budget) {}

  const policy::RetryPolicy& retry() const { return retry_; }

  // A new downstream request: the overflowed threshold, or nothing when admitted.
  std::optional<policy::Threshold> admit() {
    std::lock_guard lock(mutex_);
    auto overflow = breaker_.admitRequest(false);
    if (!overflow) budget_.onRequestStart();
    return overflow;
  }
  void finish() {
    std::lock_guard lock(mutex_);
    breaker_.release(policy::Threshold::max_requests);
    budget_.onRequestEnd();
  }
  enum class RetryAdmission { ok, ok_unbudgeted, budget_exhausted, overflow };
  // `budgeted`: whether the retry counts against the budget and max_retries.
  // A retry after a connect failure does not: nothing reached an upstream, so
  // it cannot amplify load there; `attempts` still bounds it.
  RetryAdmission startRetry(policy::TimePoint now, bool budgeted) {
    if (!budgeted) return RetryAdmission::ok_unbudgeted;
    std::lock_guard lock(mutex_);
    if (!breaker_.canAcquire(policy::Threshold::max_retries)) {
      breaker_.tryAcquire(policy::Threshold::max_retries);  // counts the overflow
      return RetryAdmission::overflow;
    }
    if (!budget_.tryStartRetry(now)) return RetryAdmission::budget_exhausted;
    breaker_.tryAcquire(policy::Threshold::max_retries);
    return RetryAdmission::ok;
  }
  void endRetry(bool budgeted) {
    if (!budgeted) return;
    std::lock_guard lock(mutex_);
    breaker_.release(policy::Threshold::max_retries);
    budget_.onRetryEnd();
  }

 private:
  std::mutex mutex_;
  policy::RetryPolicy retry_;
  policy::CircuitBreaker breaker_;
  policy::RetryBudget budget_;
};

// Inbound rate limit (a token bucket shared by every worker of a listener).
class RateLimiter {
 public:
  RateLimiter(double rps, uint32_t burst) : rps_(rps), burst_(burst), bucket_(rps, burst) {}
  // Admitted, or the seconds the client should wait (Retry-After).
  std::optional<std::chrono::seconds> admit(policy::TimePoint now) {
    std::lock_guard lock(mutex_);
    if (bucket_.tryAcquire(now)) return std::nullopt;
    return std::max(bucket_.retryAfter(now), std::chrono::seconds(1));
  }
  double rps() const { return rps_; }
  uint32_t burst() const { return burst_; }

 private:
  std::mutex mutex_;
  double rps_;
  uint32_t burst_;
  policy::TokenBucket bucket_;
};

}  // namespace hawser
