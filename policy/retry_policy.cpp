#include "policy/retry_policy.h"

#include <algorithm>
#include <charconv>
#include <utility>

namespace hawser::policy {

namespace {

constexpr std::string_view kStatusPrefix = "retriable-status:";

void insertSorted(std::vector<int>& statuses, int code) {
  const auto at = std::lower_bound(statuses.begin(), statuses.end(), code);
  if (at == statuses.end() || *at != code) statuses.insert(at, code);
}

}  // namespace

RetryConditions::RetryConditions(std::uint8_t flags, std::vector<int> statuses)
    : flags_(flags), statuses_(std::move(statuses)) {
  std::sort(statuses_.begin(), statuses_.end());
  statuses_.erase(std::unique(statuses_.begin(), statuses_.end()), statuses_.end());
}

std::string RetryConditions::add(std::string_view text) {
  if (text == "server-error") {
    flags_ |= server_error;
  } else if (text == "gateway-error") {
    flags_ |= gateway_error;
  } else if (text == "connect-failure") {
    flags_ |= connect_failure;
  } else if (text == "reset") {
    flags_ |= reset;
  } else if (text.starts_with(kStatusPrefix)) {
    const std::string_view digits = text.substr(kStatusPrefix.size());
    int code = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), code);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || code < 400 || code > 599) {
      return "retry condition \"" + std::string(text) + "\": the status must be a number from 400 to 599";
    }
    insertSorted(statuses_, code);
  } else {
    return "unknown retry condition \"" + std::string(text) +
           "\" (expected server-error, gateway-error, connect-failure, reset or "
           "retriable-status:<code>)";
  }
  return {};
}

bool RetryConditions::matches(const UpstreamOutcome& outcome) const {
  switch (outcome.failure) {
    case UpstreamFailure::connect_failure: return (flags_ & (server_error | gateway_error | connect_failure)) != 0;
    case UpstreamFailure::reset: return (flags_ & (server_error | reset)) != 0;
    case UpstreamFailure::timeout: return (flags_ & (server_error | gateway_error)) != 0;
    case UpstreamFailure::none: break;
  }
  if (has(server_error) && outcome.is5xx()) return true;
  if (has(gateway_error) && outcome.isGatewayError()) return true;
  return std::binary_search(statuses_.begin(), statuses_.end(), outcome.status);
}

std::string parseRetryConditions(std::span<const std::string> texts, RetryConditions& out) {
  RetryConditions parsed;
  for (const std::string& text : texts) {
    std::string error = parsed.add(text);
    if (!error.empty()) return error;
  }
  out = std::move(parsed);
  return {};
}

std::string_view stopReasonName(StopReason reason) {
  switch (reason) {
    case StopReason::not_retriable: return "not_retriable";
    case StopReason::response_started: return "response_started";
    case StopReason::body_not_replayable: return "body_not_replayable";
    case StopReason::non_idempotent: return "non_idempotent";
    case StopReason::attempts_exhausted: return "attempts_exhausted";
    case StopReason::budget_exhausted: return "budget_exhausted";
  }
  return "unknown";
}

bool isIdempotentMethod(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" || method == "DELETE" ||
         method == "TRACE";
}

RetryDecision decideRetry(const RetryPolicy& policy, const UpstreamOutcome& outcome, const AttemptState& state) {
  if (!policy.retry_on.matches(outcome)) return RetryDecision::stop(StopReason::not_retriable);
  if (state.response_started) return RetryDecision::stop(StopReason::response_started);
  if (!state.body_replayable) return RetryDecision::stop(StopReason::body_not_replayable);
  // A connect failure sent nothing, whatever the caller believes.
  const bool reached = state.reached_upstream && outcome.failure != UpstreamFailure::connect_failure;
  if (reached && !policy.allow_non_idempotent && !isIdempotentMethod(state.method)) {
    return RetryDecision::stop(StopReason::non_idempotent);
  }
  if (state.attempts_so_far >= policy.attempts) {
    return RetryDecision::stop(StopReason::attempts_exhausted);
  }
  return RetryDecision::retryNow();
}

}  // namespace hawser::policy
