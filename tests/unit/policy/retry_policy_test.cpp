#include "policy/retry_policy.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hawser::policy {
namespace {

RetryConditions only(std::string_view text) {
  RetryConditions conditions;
  EXPECT_EQ(conditions.add(text), "");
  return conditions;
}

TEST(RetryConditionsTest, ServerErrorMatchesEvery5xxAndEveryFailure) {
  const RetryConditions c = only("server-error");
  EXPECT_TRUE(c.matches(UpstreamOutcome::response(500)));
  EXPECT_TRUE(c.matches(UpstreamOutcome::response(501)));
  EXPECT_TRUE(c.matches(UpstreamOutcome::response(503)));
  EXPECT_TRUE(c.matches(UpstreamOutcome::response(599)));
  EXPECT_FALSE(c.matches(UpstreamOutcome::response(200)));
  EXPECT_FALSE(c.matches(UpstreamOutcome::response(404)));
  EXPECT_FALSE(c.matches(UpstreamOutcome::response(429)));
  EXPECT_TRUE(c.matches(UpstreamOutcome::connectFailure()));
  EXPECT_TRUE(c.matches(UpstreamOutcome::reset()));
  EXPECT_TRUE(c.matches(UpstreamOutcome::timeout()));
}

TEST(RetryConditionsTest, GatewayErrorMatches502To504ConnectFailureAndTimeout) {
  const RetryConditions c = only("gateway-error");
  EXPECT_FALSE(c.matches(UpstreamOutcome::response(500)));
  EXPECT_FALSE(c.matches(UpstreamOutcome::response(501)));
  EXPECT_TRUE(c.matches(UpstreamOutcome::response(502)));
  EXPECT_TRUE(c.matches(UpstreamOutcome::response(503)));
  EXPECT_TRUE(c.matches(UpstreamOutcome::response(504)));
  EXPECT_FALSE(c.matches(UpstreamOutcome::response(505)));
  EXPECT_TRUE(c.matches(UpstreamOutcome::connectFailure()));
  EXPECT_TRUE(c.matches(UpstreamOutcome::timeout()));
  EXPECT_FALSE(c.matches(UpstreamOutcome::reset()));
}

TEST(RetryConditionsTest, ConnectFailureAndResetMatchOnlyThemselves) {
  const RetryConditions connect = only("connect-failure");
  EXPECT_TRUE(connect.matches(UpstreamOutcome::connectFailure()));
  EXPECT_FALSE(connect.matches(UpstreamOutcome::reset()));
  EXPECT_FALSE(connect.matches(UpstreamOutcome::timeout()));
  EXPECT_FALSE(connect.matches(UpstreamOutcome::response(503)));

  const RetryConditions reset = only("reset");
  EXPECT_TRUE(reset.matches(UpstreamOutcome::reset()));
  EXPECT_FALSE(reset.matches(UpstreamOutcome::connectFailure()));
  EXPECT_FALSE(reset.matches(UpstreamOutcome::timeout()));
  EXPECT_FALSE(reset.matches(UpstreamOutcome::response(502)));
}

TEST(RetryConditionsTest, RetriableStatusMatchesExactCodes) {
  RetryConditions c;
  EXPECT_EQ(c.add("retriable-status:409"), "");
  EXPECT_EQ(c.add("retriable-status:429"), "");
  EXPECT_EQ(c.add("retriable-status:409"), "");
  EXPECT_EQ(c.statuses(), (std::vector<int>{409, 429}));
  EXPECT_TRUE(c.matches(UpstreamOutcome::response(409)));
  EXPECT_TRUE(c.matches(UpstreamOutcome::response(429)));
  EXPECT_FALSE(c.matches(UpstreamOutcome::response(410)));
  EXPECT_FALSE(c.matches(UpstreamOutcome::response(503)));
  EXPECT_FALSE(c.matches(UpstreamOutcome::connectFailure()));
}

TEST(RetryConditionsTest, ParseErrorsNameTheBadEntry) {
  RetryConditions c;
  EXPECT_EQ(c.add("5xx"),
            "unknown retry condition \"5xx\" (expected server-error, gateway-error, "
            "connect-failure, reset or retriable-status:<code>)");
  EXPECT_EQ(c.add("retriable-status:"),
            "retry condition \"retriable-status:\": the status must be a number from 400 to 599");
  EXPECT_NE(c.add("retriable-status:abc"), "");
  EXPECT_NE(c.add("retriable-status:42x"), "");
  EXPECT_NE(c.add("retriable-status:200"), "");
  EXPECT_NE(c.add("retriable-status:600"), "");
  EXPECT_NE(c.add("retriable-status:-500"), "");
  EXPECT_NE(c.add("Server-Error"), "");
  EXPECT_TRUE(c.empty());
}

TEST(RetryConditionsTest, ParseListIsAllOrNothing) {
  RetryConditions out = only("reset");
  const std::vector<std::string> bad{"gateway-error", "bogus"};
  EXPECT_EQ(parseRetryConditions(bad, out),
            "unknown retry condition \"bogus\" (expected server-error, gateway-error, "
            "connect-failure, reset or retriable-status:<code>)");
  EXPECT_TRUE(out.has(RetryConditions::reset));
  EXPECT_FALSE(out.has(RetryConditions::gateway_error));

  const std::vector<std::string> good{"gateway-error", "retriable-status:429"};
  EXPECT_EQ(parseRetryConditions(good, out), "");
  EXPECT_TRUE(out.has(RetryConditions::gateway_error));
  EXPECT_FALSE(out.has(RetryConditions::reset));
  EXPECT_EQ(out.statuses(), (std::vector<int>{429}));
}

TEST(RetryPolicyTest, Defaults) {
  const RetryPolicy policy;
  EXPECT_EQ(policy.attempts, 2u);
  EXPECT_EQ(policy.max_buffered_body, 65536u);
  EXPECT_FALSE(policy.allow_non_idempotent);
  EXPECT_TRUE(policy.retry_on.has(RetryConditions::connect_failure));
  EXPECT_TRUE(policy.retry_on.has(RetryConditions::gateway_error));
  EXPECT_FALSE(policy.retry_on.has(RetryConditions::server_error));
  EXPECT_FALSE(policy.retry_on.has(RetryConditions::reset));
  EXPECT_EQ(policy.backoff.base, std::chrono::milliseconds(25));
  EXPECT_EQ(policy.backoff.max, std::chrono::milliseconds(250));
  EXPECT_EQ(policy.budget.percent, 20.0);
  EXPECT_EQ(policy.budget.min_per_second, 10.0);
}

TEST(IdempotentMethodTest, Rfc9110List) {
  for (const char* m : {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"}) {
    EXPECT_TRUE(isIdempotentMethod(m)) << m;
  }
  for (const char* m : {"POST", "PATCH", "CONNECT", "get", "PROPFIND", ""}) {
    EXPECT_FALSE(isIdempotentMethod(m)) << m;
  }
}

class DecideRetryTest : public ::testing::Test {
 protected:
  DecideRetryTest() {
    policy.attempts = 3;
    policy.retry_on = RetryConditions(RetryConditions::server_error);
  }
  AttemptState get() const {
    AttemptState s;
    s.method = "GET";
    s.reached_upstream = true;
    return s;
  }
  RetryPolicy policy;
};

TEST_F(DecideRetryTest, RetriesAMatchingOutcome) {
  const RetryDecision d = decideRetry(policy, UpstreamOutcome::response(503), get());
  EXPECT_TRUE(d.retry);
}

TEST_F(DecideRetryTest, SuccessAndUnmatchedStatusAreNotRetriable) {
  for (int status : {200, 204, 301, 404, 429}) {
    const RetryDecision d = decideRetry(policy, UpstreamOutcome::response(status), get());
    EXPECT_FALSE(d.retry) << status;
    EXPECT_EQ(d.reason, StopReason::not_retriable) << status;
  }
}

TEST_F(DecideRetryTest, AttemptsCountTheFirstOne) {
  AttemptState s = get();
  s.attempts_so_far = 1;
  EXPECT_TRUE(decideRetry(policy, UpstreamOutcome::response(500), s).retry);
  s.attempts_so_far = 2;
  EXPECT_TRUE(decideRetry(policy, UpstreamOutcome::response(500), s).retry);
  s.attempts_so_far = 3;
  const RetryDecision d = decideRetry(policy, UpstreamOutcome::response(500), s);
  EXPECT_FALSE(d.retry);
  EXPECT_EQ(d.reason, StopReason::attempts_exhausted);

  policy.attempts = 1;
  s.attempts_so_far = 1;
  EXPECT_EQ(decideRetry(policy, UpstreamOutcome::response(500), s).reason, StopReason::attempts_exhausted);
}

TEST_F(DecideRetryTest, NeverAfterResponseStartedStreaming) {
  AttemptState s = get();
  s.response_started = true;
  for (auto outcome : {UpstreamOutcome::response(503), UpstreamOutcome::reset(), UpstreamOutcome::timeout()}) {
    const RetryDecision d = decideRetry(policy, outcome, s);
    EXPECT_FALSE(d.retry);
    EXPECT_EQ(d.reason, StopReason::response_started);
  }
  policy.allow_non_idempotent = true;
  EXPECT_EQ(decideRetry(policy, UpstreamOutcome::reset(), s).reason, StopReason::response_started);
}

TEST_F(DecideRetryTest, NeverWhenTheBodyCannotBeReplayed) {
  AttemptState s = get();
  s.method = "PUT";
  s.body_replayable = false;
  const RetryDecision d = decideRetry(policy, UpstreamOutcome::response(502), s);
  EXPECT_FALSE(d.retry);
  EXPECT_EQ(d.reason, StopReason::body_not_replayable);
}

TEST_F(DecideRetryTest, NonIdempotentOnlyWhenNothingReachedTheUpstream) {
  for (const char* method : {"POST", "PATCH", "CONNECT", "LOCK"}) {
    AttemptState s = get();
    s.method = method;
    s.reached_upstream = true;
    for (auto outcome : {UpstreamOutcome::response(503), UpstreamOutcome::reset(), UpstreamOutcome::timeout()}) {
      const RetryDecision d = decideRetry(policy, outcome, s);
      EXPECT_FALSE(d.retry) << method;
      EXPECT_EQ(d.reason, StopReason::non_idempotent) << method;
    }
    // A connect failure never sent a byte, whatever reached_upstream says.
    EXPECT_TRUE(decideRetry(policy, UpstreamOutcome::connectFailure(), s).retry) << method;
    // A pooled connection reset before the request was written is safe too.
    s.reached_upstream = false;
    EXPECT_TRUE(decideRetry(policy, UpstreamOutcome::reset(), s).retry) << method;
  }
}

TEST_F(DecideRetryTest, NonIdempotentWhenOptedIn) {
  policy.allow_non_idempotent = true;
  AttemptState s = get();
  s.method = "POST";
  EXPECT_TRUE(decideRetry(policy, UpstreamOutcome::response(503), s).retry);
  s.attempts_so_far = 3;
  EXPECT_EQ(decideRetry(policy, UpstreamOutcome::response(503), s).reason, StopReason::attempts_exhausted);
}

TEST_F(DecideRetryTest, IdempotentMethodsRetryAfterReachingTheUpstream) {
  for (const char* method : {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"}) {
    AttemptState s = get();
    s.method = method;
    EXPECT_TRUE(decideRetry(policy, UpstreamOutcome::reset(), s).retry) << method;
  }
}

TEST_F(DecideRetryTest, RulesApplyInDocumentedOrder) {
  AttemptState s = get();
  s.method = "POST";
  s.response_started = true;
  s.body_replayable = false;
  s.attempts_so_far = 9;
  EXPECT_EQ(decideRetry(policy, UpstreamOutcome::response(200), s).reason, StopReason::not_retriable);
  EXPECT_EQ(decideRetry(policy, UpstreamOutcome::response(500), s).reason, StopReason::response_started);
  s.response_started = false;
  EXPECT_EQ(decideRetry(policy, UpstreamOutcome::response(500), s).reason, StopReason::body_not_replayable);
  s.body_replayable = true;
  EXPECT_EQ(decideRetry(policy, UpstreamOutcome::response(500), s).reason, StopReason::non_idempotent);
  s.method = "GET";
  EXPECT_EQ(decideRetry(policy, UpstreamOutcome::response(500), s).reason, StopReason::attempts_exhausted);
}

TEST_F(DecideRetryTest, DefaultPolicyRetriesGatewayErrorsOnly) {
  const RetryPolicy defaults;
  const AttemptState s = get();
  EXPECT_TRUE(decideRetry(defaults, UpstreamOutcome::response(503), s).retry);
  EXPECT_TRUE(decideRetry(defaults, UpstreamOutcome::connectFailure(), s).retry);
  EXPECT_FALSE(decideRetry(defaults, UpstreamOutcome::response(500), s).retry);
  EXPECT_FALSE(decideRetry(defaults, UpstreamOutcome::reset(), s).retry);
}

TEST(StopReasonTest, Names) {
  EXPECT_EQ(stopReasonName(StopReason::not_retriable), "not_retriable");
  EXPECT_EQ(stopReasonName(StopReason::response_started), "response_started");
  EXPECT_EQ(stopReasonName(StopReason::body_not_replayable), "body_not_replayable");
  EXPECT_EQ(stopReasonName(StopReason::non_idempotent), "non_idempotent");
  EXPECT_EQ(stopReasonName(StopReason::attempts_exhausted), "attempts_exhausted");
  EXPECT_EQ(stopReasonName(StopReason::budget_exhausted), "budget_exhausted");
}

}  // namespace
}  // namespace hawser::policy
