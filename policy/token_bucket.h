// A token bucket: `burst` tokens, refilled at `rps` tokens per second. Starts
// full. Used for inbound rate limits and for the retry budget's floor.
//
// Kept as a theoretical arrival time (GCRA) in integer nanoseconds rather than
// a floating token count, so refills are exact and state is one time point.
#pragma once

#include <chrono>
#include <cstdint>

#include "policy/clock.h"

namespace hawser::policy {

class TokenBucket {
 public:
  // rps is clamped to at least 0.001 (one token per 1000 s), burst to at least 1.
  TokenBucket(double rps, std::uint32_t burst);

  // Takes one token if one is available at `now`.
  bool tryAcquire(TimePoint now);
  // Whole tokens available at `now` (0..burst).
  std::uint32_t available(TimePoint now) const;
  // Time until the next token is available; zero when one is available now.
  Duration timeUntilNextToken(TimePoint now) const;
  // timeUntilNextToken rounded up to whole seconds, for a Retry-After header:
  // 0 when a token is available, otherwise at least 1.
  std::chrono::seconds retryAfter(TimePoint now) const;

  Duration interval() const { return interval_; }
  std::uint32_t burst() const { return burst_; }

 private:
  Duration interval_;  // time to earn one token
  std::uint32_t burst_;
  Duration tolerance_{};              // burst * interval: how far ahead of now tat_ may run
  TimePoint tat_ = TimePoint::min();  // when the bucket will next be full
};

}  // namespace hawser::policy
