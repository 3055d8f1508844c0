#include "policy/random_lb.h"

#include <gtest/gtest.h>

#include <vector>

namespace hawser::policy {
namespace {

TEST(RandomLbTest, PicksByWeight) {
  std::vector<HostView> hosts(3);
  hosts[0].weight = 1;
  hosts[1].weight = 3;
  hosts[2].weight = 6;
  const std::vector<std::size_t> candidates{0, 1, 2};
  RandomLb lb;
  Random rng(21);
  std::vector<int> count(3);
  constexpr int kPicks = 10000;
  for (int i = 0; i < kPicks; ++i) ++count[*lb.pick(hosts, candidates, rng)];
  EXPECT_NEAR(count[0], 1000, 100);
  EXPECT_NEAR(count[1], 3000, 150);
  EXPECT_NEAR(count[2], 6000, 150);
}

TEST(RandomLbTest, OnlyCandidates) {
  const std::vector<HostView> hosts(5);
  const std::vector<std::size_t> candidates{1, 4};
  RandomLb lb;
  Random rng(2);
  int ones = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::size_t pick = *lb.pick(hosts, candidates, rng);
    ASSERT_TRUE(pick == 1 || pick == 4) << pick;
    ones += pick == 1;
  }
  EXPECT_NEAR(ones, 500, 60);
  EXPECT_EQ(lb.pick(hosts, {}, rng), std::nullopt);
}

TEST(RandomLbTest, SameSeedSamePicks) {
  const std::vector<HostView> hosts(7);
  const std::vector<std::size_t> candidates{0, 1, 2, 3, 4, 5, 6};
  RandomLb lb;
  Random a(99);
  Random b(99);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(lb.pick(hosts, candidates, a), lb.pick(hosts, candidates, b));
}

}  // namespace
}  // namespace hawser::policy
