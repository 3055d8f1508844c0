#include "policy/retry_budget.h"

#include <gtest/gtest.h>

#include "fake_clock.h"

namespace hawser::policy {
namespace {

using std::chrono::milliseconds;
using testing::FakeClock;

TEST(RetryBudgetTest, RatioOfActiveRequests) {
  FakeClock clock;
  RetryBudget budget({/*percent=*/20.0, /*min_per_second=*/0.0});
  for (int i = 0; i < 10; ++i) budget.onRequestStart();
  EXPECT_TRUE(budget.tryStartRetry(clock.now));
  EXPECT_TRUE(budget.tryStartRetry(clock.now));
  EXPECT_FALSE(budget.tryStartRetry(clock.now));  // 3 > 20% of 10
  EXPECT_EQ(budget.retriesInFlight(), 2u);
  EXPECT_EQ(budget.exhausted(), 1u);

  budget.onRetryEnd();
  EXPECT_TRUE(budget.tryStartRetry(clock.now));
  EXPECT_FALSE(budget.tryStartRetry(clock.now));
  EXPECT_EQ(budget.exhausted(), 2u);

  for (int i = 0; i < 5; ++i) budget.onRequestStart();  // 15 active: 3 allowed
  EXPECT_TRUE(budget.tryStartRetry(clock.now));
  EXPECT_FALSE(budget.tryStartRetry(clock.now));
  EXPECT_EQ(budget.exhausted(), 3u);
  EXPECT_EQ(budget.admittedByFloor(), 0u);
}

TEST(RetryBudgetTest, NoActiveRequestsNoRatioRetries) {
  FakeClock clock;
  RetryBudget budget({100.0, 0.0});
  EXPECT_FALSE(budget.tryStartRetry(clock.now));
  budget.onRequestStart();
  EXPECT_TRUE(budget.tryStartRetry(clock.now));
  EXPECT_FALSE(budget.tryStartRetry(clock.now));
  budget.onRequestEnd();
  budget.onRequestEnd();  // extra end is ignored, never underflows
  EXPECT_EQ(budget.activeRequests(), 0u);
}

TEST(RetryBudgetTest, FloorAllowsMinPerSecondWhenRatioIsSpent) {
  FakeClock clock;
  RetryBudget budget({20.0, 3.0});
  budget.onRequestStart();  // 20% of 1 allows no ratio retry
  EXPECT_TRUE(budget.tryStartRetry(clock.now));
  EXPECT_TRUE(budget.tryStartRetry(clock.now));
  EXPECT_TRUE(budget.tryStartRetry(clock.now));
  EXPECT_FALSE(budget.tryStartRetry(clock.now));
  EXPECT_EQ(budget.admittedByFloor(), 3u);
  EXPECT_EQ(budget.exhausted(), 1u);

  // The floor refills at 3/s, one token every 333.33 ms, even with retries in flight.
  clock.advance(milliseconds(333));
  EXPECT_FALSE(budget.tryStartRetry(clock.now));
  clock.advance(milliseconds(1));
  EXPECT_TRUE(budget.tryStartRetry(clock.now));
  EXPECT_FALSE(budget.tryStartRetry(clock.now));
  EXPECT_EQ(budget.exhausted(), 3u);
  EXPECT_EQ(budget.retriesInFlight(), 4u);

  // A quiet minute refills at most one second's worth.
  clock.advance(std::chrono::minutes(1));
  int admitted = 0;
  while (budget.tryStartRetry(clock.now)) ++admitted;
  EXPECT_EQ(admitted, 3);
}

TEST(RetryBudgetTest, RatioIsUsedBeforeTheFloor) {
  FakeClock clock;
  RetryBudget budget({50.0, 1.0});
  for (int i = 0; i < 4; ++i) budget.onRequestStart();
  EXPECT_TRUE(budget.tryStartRetry(clock.now));
  EXPECT_TRUE(budget.tryStartRetry(clock.now));
  EXPECT_EQ(budget.admittedByFloor(), 0u);
  EXPECT_TRUE(budget.tryStartRetry(clock.now));
  EXPECT_EQ(budget.admittedByFloor(), 1u);
  EXPECT_FALSE(budget.tryStartRetry(clock.now));
}

TEST(RetryBudgetTest, FractionalPercent) {
  FakeClock clock;
  RetryBudget budget({12.5, 0.0});
  for (int i = 0; i < 16; ++i) budget.onRequestStart();
  EXPECT_TRUE(budget.tryStartRetry(clock.now));
  EXPECT_TRUE(budget.tryStartRetry(clock.now));
  EXPECT_FALSE(budget.tryStartRetry(clock.now));
}

}  // namespace
}  // namespace hawser::policy
