#include "policy/least_request.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

namespace hawser::policy {
namespace {

std::vector<std::size_t> all(std::size_t n) {
  std::vector<std::size_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

TEST(LeastRequestTest, OfTwoAlwaysTheLessLoaded) {
  std::vector<HostView> hosts(2);
  hosts[0].active_requests = 5;
  hosts[1].active_requests = 2;
  LeastRequest lb;
  Random rng(3);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(lb.pick(hosts, all(2), rng), 1u);
  hosts[0].active_requests = 1;
  for (int i = 0; i < 100; ++i) EXPECT_EQ(lb.pick(hosts, all(2), rng), 0u);
}

TEST(LeastRequestTest, LoadIsPerUnitOfWeight) {
  std::vector<HostView> hosts(2);
  hosts[0].active_requests = 5;  // (5+1)/3 = 2
  hosts[0].weight = 3;
  hosts[1].active_requests = 2;  // (2+1)/1 = 3
  LeastRequest lb;
  Random rng(3);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(lb.pick(hosts, all(2), rng), 0u);
}

TEST(LeastRequestTest, TheMostLoadedOfManyIsNeverPicked) {
  std::vector<HostView> hosts(5);
  for (std::size_t i = 0; i < hosts.size(); ++i) hosts[i].active_requests = static_cast<std::uint32_t>(i);
  LeastRequest lb;
  Random rng(11);
  std::vector<int> count(5);
  constexpr int kPicks = 10000;
  for (int i = 0; i < kPicks; ++i) ++count[*lb.pick(hosts, all(5), rng)];
  // Host k wins when it is sampled with a more loaded one: P = 2 * (4 - k) / 20.
  EXPECT_EQ(count[4], 0);
  const double expected[] = {0.4, 0.3, 0.2, 0.1, 0.0};
  for (int k = 0; k < 5; ++k) {
    EXPECT_NEAR(count[k] / static_cast<double>(kPicks), expected[k], 0.02) << k;
  }
}

TEST(LeastRequestTest, SamplesTwoDistinctCandidates) {
  // With two candidates both are always compared, so the lighter one always wins
  // (checked above); with one, it is returned without drawing.
  std::vector<HostView> hosts(3);
  LeastRequest lb;
  Random rng(5);
  const std::vector<std::size_t> one{2};
  Random untouched(5);
  EXPECT_EQ(lb.pick(hosts, one, rng), 2u);
  EXPECT_EQ(rng(), untouched());
  EXPECT_EQ(lb.pick(hosts, {}, rng), std::nullopt);
}

TEST(LeastRequestTest, EqualLoadSpreadsEvenly) {
  const std::vector<HostView> hosts(4);
  LeastRequest lb;
  Random rng(9);
  std::vector<int> count(4);
  for (int i = 0; i < 10000; ++i) ++count[*lb.pick(hosts, all(4), rng)];
  for (int k = 0; k < 4; ++k) EXPECT_NEAR(count[k], 2500, 150) << k;
}

}  // namespace
}  // namespace hawser::policy
