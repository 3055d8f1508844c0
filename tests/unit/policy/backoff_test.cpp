#include "policy/backoff.h"

#include <gtest/gtest.h>

#include <chrono>

namespace hawser::policy {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, CeilingDoublesUntilMax) {
  const BackoffPolicy policy{milliseconds(25), milliseconds(250)};
  EXPECT_EQ(backoffCeiling(policy, 0), milliseconds(25));
  EXPECT_EQ(backoffCeiling(policy, 1), milliseconds(50));
  EXPECT_EQ(backoffCeiling(policy, 2), milliseconds(100));
  EXPECT_EQ(backoffCeiling(policy, 3), milliseconds(200));
  EXPECT_EQ(backoffCeiling(policy, 4), milliseconds(250));
  EXPECT_EQ(backoffCeiling(policy, 1000), milliseconds(250));
  EXPECT_EQ(backoffCeiling(policy, 0xFFFFFFFFu), milliseconds(250));
}

TEST(BackoffTest, FloorIsHalfTheBase) {
  const BackoffPolicy policy{milliseconds(25), milliseconds(250)};
  EXPECT_EQ(backoffFloor(policy, 0), std::chrono::microseconds(12500));
  EXPECT_EQ(backoffFloor(policy, 5), std::chrono::microseconds(12500));
}

TEST(BackoffTest, MaxBelowBaseCapsEverything) {
  const BackoffPolicy policy{milliseconds(100), milliseconds(30)};
  EXPECT_EQ(backoffCeiling(policy, 0), milliseconds(30));
  EXPECT_EQ(backoffFloor(policy, 0), milliseconds(30));
  Random rng(1);
  EXPECT_EQ(backoffDelay(policy, 3, rng), milliseconds(30));
}

TEST(BackoffTest, ZeroBaseMeansNoDelay) {
  const BackoffPolicy policy{milliseconds(0), milliseconds(250)};
  Random rng(1);
  EXPECT_EQ(backoffDelay(policy, 0, rng), Duration{0});
  EXPECT_EQ(backoffDelay(policy, 7, rng), Duration{0});
}

TEST(BackoffTest, DelaysStayWithinBoundsAndSpreadOverThem) {
  const BackoffPolicy policy{milliseconds(25), milliseconds(250)};
  Random rng(42);
  for (std::uint32_t retry = 0; retry < 8; ++retry) {
    const Duration floor = backoffFloor(policy, retry);
    const Duration ceiling = backoffCeiling(policy, retry);
    Duration lowest = Duration::max();
    Duration highest = Duration::min();
    double sum = 0;
    constexpr int kSamples = 20000;
    for (int i = 0; i < kSamples; ++i) {
      const Duration d = backoffDelay(policy, retry, rng);
      ASSERT_GE(d, floor) << "retry " << retry;
      ASSERT_LE(d, ceiling) << "retry " << retry;
      lowest = std::min(lowest, d);
      highest = std::max(highest, d);
      sum += static_cast<double>(d.count());
    }
    const double width = static_cast<double>((ceiling - floor).count());
    // Uniform: the extremes come within 0.1% of the bounds, the mean within 2%
    // of the middle.
    EXPECT_LT(static_cast<double>((lowest - floor).count()), width * 0.001) << retry;
    EXPECT_LT(static_cast<double>((ceiling - highest).count()), width * 0.001) << retry;
    const double middle = static_cast<double>(floor.count()) + width / 2;
    EXPECT_NEAR(sum / kSamples, middle, width * 0.02) << retry;
  }
}

TEST(BackoffTest, SeededGeneratorGivesRepeatableDelays) {
  const BackoffPolicy policy{milliseconds(25), milliseconds(250)};
  Random a(7);
  Random b(7);
  for (std::uint32_t retry = 0; retry < 5; ++retry) {
    EXPECT_EQ(backoffDelay(policy, retry, a), backoffDelay(policy, retry, b));
  }
}

}  // namespace
}  // namespace hawser::policy
