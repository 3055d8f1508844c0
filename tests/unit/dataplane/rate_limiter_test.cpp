#include <gtest/gtest.h>

#include <string>

#include "dataplane/cluster_policy.h"

namespace hawser {
namespace {

config::RateLimit perPeer(double rps, uint32_t burst) {
  config::RateLimit l;
  l.rps = rps;
  l.burst = burst;
  l.per_peer = true;
  return l;
}

TEST(RateLimiter, EachPeerHasItsOwnBucket) {
  RateLimiter rl(perPeer(1, 2));
  const auto t0 = policy::TimePoint{} + std::chrono::hours(1);
  EXPECT_FALSE(rl.admit(t0, "spiffe://a"));
  EXPECT_FALSE(rl.admit(t0, "spiffe://a"));
  auto wait = rl.admit(t0, "spiffe://a");
  ASSERT_TRUE(wait);
  EXPECT_GE(wait->count(), 1);
  EXPECT_FALSE(rl.admit(t0, "spiffe://b"));  // b is not charged for a
  EXPECT_EQ(rl.peerBuckets(), 2u);
}

TEST(RateLimiter, PeerBucketsAreCappedAndPeersPastTheCapShareOne) {
  RateLimiter rl(perPeer(1, 1));
  const auto t0 = policy::TimePoint{} + std::chrono::hours(1);
  for (size_t i = 0; i < RateLimiter::kMaxPeers; ++i) {
    ASSERT_FALSE(rl.admit(t0, "peer-" + std::to_string(i)));  // each takes its only token: none is full
  }
  EXPECT_EQ(rl.peerBuckets(), RateLimiter::kMaxPeers);
  // No room: new peers share one bucket (burst 1), and the map does not grow.
  EXPECT_FALSE(rl.admit(t0, "new-1"));
  EXPECT_TRUE(rl.admit(t0, "new-2"));
  EXPECT_TRUE(rl.admit(t0, "new-3"));
  EXPECT_EQ(rl.peerBuckets(), RateLimiter::kMaxPeers);
  // Two seconds later every bucket is full again: the next new peer sweeps them.
  const auto t1 = t0 + std::chrono::seconds(2);
  EXPECT_FALSE(rl.admit(t1, "new-4"));
  EXPECT_EQ(rl.peerBuckets(), 1u);
}

TEST(RateLimiter, SweepRunsAtMostOnceASecond) {
  RateLimiter rl(perPeer(1, 1));
  const auto t0 = policy::TimePoint{} + std::chrono::hours(1);
  for (size_t i = 0; i < RateLimiter::kMaxPeers; ++i) ASSERT_FALSE(rl.admit(t0, "peer-" + std::to_string(i)));
  // t0 + 0.5 s: a sweep runs but every bucket is half empty: nothing goes.
  EXPECT_FALSE(rl.admit(t0 + std::chrono::milliseconds(500), "x"));  // the shared bucket
  EXPECT_EQ(rl.peerBuckets(), RateLimiter::kMaxPeers);
  // t0 + 1.2 s: the buckets are full again, but the last sweep was 0.7 s ago:
  // y shares the bucket x emptied (0.7 of a token back) and is refused.
  EXPECT_TRUE(rl.admit(t0 + std::chrono::milliseconds(1200), "y"));
  EXPECT_EQ(rl.peerBuckets(), RateLimiter::kMaxPeers);
  // t0 + 1.6 s: a second since the last sweep: the full buckets go.
  EXPECT_FALSE(rl.admit(t0 + std::chrono::milliseconds(1600), "z"));
  EXPECT_EQ(rl.peerBuckets(), 1u);
}

}  // namespace
}  // namespace hawser
