#include "policy/circuit_breaker.h"

#include <gtest/gtest.h>

namespace hawser::policy {
namespace {

TEST(CircuitBreakerTest, ThresholdNames) {
  EXPECT_EQ(thresholdName(Threshold::max_connections), "max_connections");
  EXPECT_EQ(thresholdName(Threshold::max_pending), "max_pending");
  EXPECT_EQ(thresholdName(Threshold::max_requests), "max_requests");
  EXPECT_EQ(thresholdName(Threshold::max_retries), "max_retries");
}

TEST(CircuitBreakerTest, DefaultsMatchEnvoy) {
  CircuitBreaker breaker(CircuitBreakerThresholds{});
  EXPECT_EQ(breaker.limit(Threshold::max_connections), 1024u);
  EXPECT_EQ(breaker.limit(Threshold::max_pending), 1024u);
  EXPECT_EQ(breaker.limit(Threshold::max_requests), 1024u);
  EXPECT_EQ(breaker.limit(Threshold::max_retries), 3u);
}

TEST(CircuitBreakerTest, EachThresholdCountsOnItsOwn) {
  CircuitBreaker breaker({/*max_connections=*/2, /*max_pending=*/1, /*max_requests=*/3,
                          /*max_retries=*/1});
  EXPECT_TRUE(breaker.tryAcquire(Threshold::max_connections));
  EXPECT_TRUE(breaker.tryAcquire(Threshold::max_connections));
  EXPECT_FALSE(breaker.canAcquire(Threshold::max_connections));
  EXPECT_FALSE(breaker.tryAcquire(Threshold::max_connections));
  EXPECT_EQ(breaker.active(Threshold::max_connections), 2u);
  EXPECT_EQ(breaker.overflows(Threshold::max_connections), 1u);
  EXPECT_EQ(breaker.overflows(Threshold::max_requests), 0u);

  EXPECT_TRUE(breaker.tryAcquire(Threshold::max_retries));
  EXPECT_FALSE(breaker.tryAcquire(Threshold::max_retries));
  breaker.release(Threshold::max_retries);
  EXPECT_TRUE(breaker.tryAcquire(Threshold::max_retries));
  EXPECT_EQ(breaker.overflows(Threshold::max_retries), 1u);

  breaker.release(Threshold::max_connections);
  EXPECT_TRUE(breaker.tryAcquire(Threshold::max_connections));
}

TEST(CircuitBreakerTest, AdmitRequestReportsTheOverflowedThreshold) {
  CircuitBreaker breaker({10, /*max_pending=*/1, /*max_requests=*/2, 3});
  EXPECT_EQ(breaker.admitRequest(true), std::nullopt);
  EXPECT_EQ(breaker.active(Threshold::max_requests), 1u);
  EXPECT_EQ(breaker.active(Threshold::max_pending), 1u);

  // Pending is full: the request slot it took is given back.
  EXPECT_EQ(breaker.admitRequest(true), Threshold::max_pending);
  EXPECT_EQ(breaker.active(Threshold::max_requests), 1u);
  EXPECT_EQ(breaker.overflows(Threshold::max_pending), 1u);

  EXPECT_EQ(breaker.admitRequest(false), std::nullopt);
  EXPECT_EQ(breaker.admitRequest(false), Threshold::max_requests);
  EXPECT_EQ(breaker.overflows(Threshold::max_requests), 1u);
  EXPECT_EQ(thresholdName(*breaker.admitRequest(true)), "max_requests");
}

TEST(CircuitBreakerTest, ZeroLimitAdmitsNothingAndReleaseNeverUnderflows) {
  CircuitBreaker breaker({0, 0, 0, 0});
  EXPECT_FALSE(breaker.tryAcquire(Threshold::max_retries));
  breaker.release(Threshold::max_retries);
  EXPECT_EQ(breaker.active(Threshold::max_retries), 0u);
  EXPECT_FALSE(breaker.tryAcquire(Threshold::max_retries));
}

}  // namespace
}  // namespace hawser::policy
