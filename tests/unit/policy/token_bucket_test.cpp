#include "policy/token_bucket.h"

#include <gtest/gtest.h>

#include "fake_clock.h"

namespace hawser::policy {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeClock;

TEST(TokenBucketTest, BurstThenRate) {
  FakeClock clock;
  TokenBucket bucket(10.0, 5);  // one token per 100 ms
  EXPECT_EQ(bucket.interval(), milliseconds(100));
  EXPECT_EQ(bucket.available(clock.now), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(bucket.tryAcquire(clock.now)) << i;
  EXPECT_FALSE(bucket.tryAcquire(clock.now));
  EXPECT_EQ(bucket.available(clock.now), 0u);

  clock.advance(milliseconds(99));
  EXPECT_FALSE(bucket.tryAcquire(clock.now));
  clock.advance(milliseconds(1));
  EXPECT_TRUE(bucket.tryAcquire(clock.now));
  EXPECT_FALSE(bucket.tryAcquire(clock.now));

  // One second refills ten tokens but the bucket holds only five.
  clock.advance(seconds(1));
  EXPECT_EQ(bucket.available(clock.now), 5u);
  int taken = 0;
  while (bucket.tryAcquire(clock.now)) ++taken;
  EXPECT_EQ(taken, 5);
}

TEST(TokenBucketTest, SteadyRateAdmitsExactlyRps) {
  FakeClock clock;
  TokenBucket bucket(4.0, 1);
  int admitted = 0;
  // Offer a request every 10 ms for 10 s: one every 250 ms from t=0 passes.
  for (int i = 0; i < 1000; ++i) {
    if (bucket.tryAcquire(clock.now)) ++admitted;
    clock.advance(milliseconds(10));
  }
  EXPECT_EQ(admitted, 40);
}

TEST(TokenBucketTest, RetryAfterRoundsUpToWholeSeconds) {
  FakeClock clock;
  TokenBucket bucket(0.5, 1);  // one token per 2 s
  EXPECT_EQ(bucket.retryAfter(clock.now), seconds(0));
  EXPECT_EQ(bucket.timeUntilNextToken(clock.now), Duration{0});
  ASSERT_TRUE(bucket.tryAcquire(clock.now));
  EXPECT_EQ(bucket.timeUntilNextToken(clock.now), seconds(2));
  EXPECT_EQ(bucket.retryAfter(clock.now), seconds(2));
  clock.advance(milliseconds(1));
  EXPECT_EQ(bucket.timeUntilNextToken(clock.now), milliseconds(1999));
  EXPECT_EQ(bucket.retryAfter(clock.now), seconds(2));
  clock.advance(milliseconds(1000));
  EXPECT_EQ(bucket.retryAfter(clock.now), seconds(1));
  clock.advance(milliseconds(998));
  EXPECT_EQ(bucket.retryAfter(clock.now), seconds(1));  // 1 ms left: still 1
  clock.advance(milliseconds(1));
  EXPECT_EQ(bucket.retryAfter(clock.now), seconds(0));
  EXPECT_TRUE(bucket.tryAcquire(clock.now));
}

TEST(TokenBucketTest, RetryAfterIsAtLeastOneSecondWhenEmptyAtHighRate) {
  FakeClock clock;
  TokenBucket bucket(1000.0, 2);
  ASSERT_TRUE(bucket.tryAcquire(clock.now));
  ASSERT_TRUE(bucket.tryAcquire(clock.now));
  EXPECT_EQ(bucket.timeUntilNextToken(clock.now), milliseconds(1));
  EXPECT_EQ(bucket.retryAfter(clock.now), seconds(1));
}

TEST(TokenBucketTest, DegenerateSettingsAreClamped) {
  FakeClock clock;
  TokenBucket bucket(0.0, 0);
  EXPECT_EQ(bucket.burst(), 1u);
  EXPECT_EQ(bucket.interval(), seconds(1000));
  EXPECT_TRUE(bucket.tryAcquire(clock.now));
  EXPECT_FALSE(bucket.tryAcquire(clock.now));
  EXPECT_EQ(bucket.retryAfter(clock.now), seconds(1000));
}

TEST(TokenBucketTest, HugeBurstAtLowRateDoesNotOverflow) {
  FakeClock clock;
  TokenBucket bucket(0.001, 0xFFFFFFFFu);
  EXPECT_TRUE(bucket.tryAcquire(clock.now));
  EXPECT_GT(bucket.available(clock.now), 1000u);
}

}  // namespace
}  // namespace hawser::policy
