// The shared, stateful part of a cluster's resilience policy: the circuit
// breaker and the retry budget. Decisions are policy/'s; this only guards the
// state with a mutex (held for a few instructions) since every worker uses it.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "dataplane/config/config.h"
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
  // max_pending: a request waiting for a new upstream connection (connecting,
  // or queued behind max_connections). Counts the overflow when refused.
  bool tryStartPending() {
    std::lock_guard lock(mutex_);
    return breaker_.tryAcquire(policy::Threshold::max_pending);
  }
  void endPending() {
    std::lock_guard lock(mutex_);
    breaker_.release(policy::Threshold::max_pending);
  }
  // max_connections: one slot per open upstream connection of the service,
  // held from connect until it closes. Refusal is not an overflow yet: the
  // request waits (pending) for a connection to come free.
  bool tryOpenConnection() {
    std::lock_guard lock(mutex_);
    if (!breaker_.canAcquire(policy::Threshold::max_connections)) return false;
    return breaker_.tryAcquire(policy::Threshold::max_connections);
  }
  void closeConnection() {
    std::lock_guard lock(mutex_);
    breaker_.release(policy::Threshold::max_connections);
  }
  uint64_t active(policy::Threshold t) {
    std::lock_guard lock(mutex_);
    return breaker_.active(t);
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

// A token-bucket rate limit shared by every worker: of an inbound listener
// (optionally one bucket per verified peer identity) or of an outbound service.
class RateLimiter {
 public:
  explicit RateLimiter(config::RateLimit limit) : limit_(limit), bucket_(limit.rps, limit.burst) {}
  // Admitted, or the seconds the client should wait (Retry-After). `peer`
  // selects the bucket when the limit is per peer (plaintext peers share "").
  std::optional<std::chrono::seconds> admit(policy::TimePoint now, std::string_view peer = {}) {
    std::lock_guard lock(mutex_);
    policy::TokenBucket* bucket = &bucket_;
    if (limit_.per_peer) {
      auto it = peers_.find(peer);
      if (it == peers_.end()) {
        // Bounded: at the cap, buckets that are full again (idle peers) go,
        // at most once a second (the sweep walks them all); peers that still
        // find no room share one bucket until some do.
        if (peers_.size() >= kMaxPeers && now - last_sweep_ >= std::chrono::seconds(1)) {
          last_sweep_ = now;
          std::erase_if(peers_, [&](auto& kv) { return kv.second.available(now) >= limit_.burst; });
        }
        if (peers_.size() < kMaxPeers)
          bucket = &peers_.emplace(std::string(peer), policy::TokenBucket(limit_.rps, limit_.burst)).first->second;
      } else {
        bucket = &it->second;
      }
    }
    if (bucket->tryAcquire(now)) return std::nullopt;
    return std::max(bucket->retryAfter(now), std::chrono::seconds(1));
  }
  const config::RateLimit& limit() const { return limit_; }
  size_t peerBuckets() {
    std::lock_guard lock(mutex_);
    return peers_.size();
  }
  static constexpr size_t kMaxPeers = 10000;

 private:
  std::mutex mutex_;
  config::RateLimit limit_;
  policy::TokenBucket bucket_;
  std::map<std::string, policy::TokenBucket, std::less<>> peers_;
  policy::TimePoint last_sweep_{};
};

}  // namespace hawser
