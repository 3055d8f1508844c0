// Retry policy (plain data) and the retry decision for one finished attempt.
//
// Which outcomes each condition retries (Envoy's meanings):
//   server-error            any 5xx, connect failure, reset, per-try timeout
//   gateway-error           502, 503, 504, connect failure, per-try timeout
//   connect-failure         connect failure
//   reset                   reset before a complete response head
//   retriable-status:<code> that status (4xx or 5xx only)
//
// Safety rules, applied after a condition matched, in this order:
//   1. never once response bytes have gone downstream (response_started);
//   2. never when the request body cannot be replayed (not fully buffered);
//   3. methods other than GET HEAD OPTIONS PUT DELETE TRACE only when the
//      request never reached the upstream, unless allow_non_idempotent;
//   4. never beyond `attempts` attempts in total (the first one included).
// The budget and circuit breaker are separate checks the caller makes after
// a Retry verdict (RetryBudget::tryStartRetry, CircuitBreaker max_retries).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policy/backoff.h"
#include "policy/clock.h"
#include "policy/retry_budget.h"
#include "policy/upstream_outcome.h"

namespace hawser::policy {

class RetryConditions {
 public:
  enum Flag : std::uint8_t {
    server_error = 1 << 0,
    gateway_error = 1 << 1,
    connect_failure = 1 << 2,
    reset = 1 << 3,
  };

  RetryConditions() = default;
  RetryConditions(std::uint8_t flags, std::vector<int> statuses = {});

  // Adds one condition written as in the config ("gateway-error",
  // "retriable-status:409"). Returns an empty string on success, otherwise a
  // message saying what is wrong with `text`; nothing is added then.
  std::string add(std::string_view text);

  bool matches(const UpstreamOutcome& outcome) const;
  bool has(Flag flag) const { return (flags_ & flag) != 0; }
  const std::vector<int>& statuses() const { return statuses_; }
  bool empty() const { return flags_ == 0 && statuses_.empty(); }

 private:
  std::uint8_t flags_ = 0;
  std::vector<int> statuses_;  // sorted, unique
};

// Parses a whole `on:` list; the error names the first bad entry.
std::string parseRetryConditions(std::span<const std::string> texts, RetryConditions& out);

struct RetryPolicy {
  std::uint32_t attempts = 2;   // in total, the first included: 2 means one retry
  Duration per_try_timeout{0};  // 0: no per-try timeout, the request timeout applies
  RetryConditions retry_on{RetryConditions::connect_failure | RetryConditions::gateway_error};
  BackoffPolicy backoff;
  RetryBudgetPolicy budget;
  std::size_t max_buffered_body = 64 * 1024;  // larger bodies are not retried
  bool allow_non_idempotent = false;
};

// What the caller knows about the request when an attempt has finished.
struct AttemptState {
  std::string_view method;
  bool reached_upstream = false;      // any request byte was written to the upstream
  bool response_started = false;      // any response byte was sent downstream
  bool body_replayable = true;        // body empty, not yet read, or fully buffered
  std::uint32_t attempts_so_far = 1;  // attempts made, this one included
};

enum class StopReason : std::uint8_t {
  not_retriable,  // the outcome matches no condition (success included)
  response_started,
  body_not_replayable,
  non_idempotent,
  attempts_exhausted,
  budget_exhausted,  // not returned by decideRetry; for the caller's budget check
};

std::string_view stopReasonName(StopReason reason);

struct RetryDecision {
  bool retry = false;
  StopReason reason = StopReason::not_retriable;  // meaningful when !retry

  static constexpr RetryDecision retryNow() { return {true, StopReason::not_retriable}; }
  static constexpr RetryDecision stop(StopReason r) { return {false, r}; }
};

// GET HEAD OPTIONS PUT DELETE TRACE (RFC 9110 9.2.2); case-sensitive.
bool isIdempotentMethod(std::string_view method);

RetryDecision decideRetry(const RetryPolicy& policy, const UpstreamOutcome& outcome, const AttemptState& state);

}  // namespace hawser::policy
