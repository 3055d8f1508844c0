#include "policy/round_robin.h"

#include <gtest/gtest.h>

#include <map>
#include <numeric>
#include <vector>

namespace hawser::policy {
namespace {

std::vector<std::size_t> all(std::size_t n) {
  std::vector<std::size_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

std::vector<std::size_t> picks(RoundRobin& lb, std::span<const HostView> hosts, std::span<const std::size_t> candidates,
                               int n) {
  Random rng(1);
  std::vector<std::size_t> out;
  for (int i = 0; i < n; ++i) out.push_back(*lb.pick(hosts, candidates, rng));
  return out;
}

TEST(RoundRobinTest, EqualWeightsCycleInOrder) {
  const std::vector<HostView> hosts(3);
  RoundRobin lb;
  EXPECT_EQ(picks(lb, hosts, all(3), 6), (std::vector<std::size_t>{0, 1, 2, 0, 1, 2}));
}

TEST(RoundRobinTest, SmoothSequenceMatchesNginx) {
  std::vector<HostView> hosts(3);
  hosts[0].weight = 5;
  hosts[1].weight = 1;
  hosts[2].weight = 1;
  RoundRobin lb;
  // nginx's documented sequence for weights {a:5, b:1, c:1}: a a b a c a a.
  EXPECT_EQ(picks(lb, hosts, all(3), 14), (std::vector<std::size_t>{0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0}));
}

TEST(RoundRobinTest, WeightsAreExactOverEveryCycle) {
  std::vector<HostView> hosts(4);
  hosts[0].weight = 1;
  hosts[1].weight = 2;
  hosts[2].weight = 3;
  hosts[3].weight = 4;
  RoundRobin lb;
  const auto seq = picks(lb, hosts, all(4), 10 * 50);
  for (int cycle = 0; cycle < 50; ++cycle) {
    std::map<std::size_t, int> count;
    for (int i = 0; i < 10; ++i) ++count[seq[cycle * 10 + i]];
    EXPECT_EQ(count, (std::map<std::size_t, int>{{0, 1}, {1, 2}, {2, 3}, {3, 4}})) << cycle;
  }
}

TEST(RoundRobinTest, OnlyCandidatesArePicked) {
  std::vector<HostView> hosts(4);
  hosts[3].weight = 2;
  RoundRobin lb;
  const std::vector<std::size_t> candidates{1, 3};
  EXPECT_EQ(picks(lb, hosts, candidates, 6), (std::vector<std::size_t>{3, 1, 3, 3, 1, 3}));
}

TEST(RoundRobinTest, ZeroWeightCountsAsOne) {
  std::vector<HostView> hosts(2);
  hosts[0].weight = 0;
  RoundRobin lb;
  EXPECT_EQ(picks(lb, hosts, all(2), 4), (std::vector<std::size_t>{0, 1, 0, 1}));
}

TEST(RoundRobinTest, NoCandidatesNoPick) {
  const std::vector<HostView> hosts(2);
  RoundRobin lb;
  Random rng(1);
  EXPECT_EQ(lb.pick(hosts, {}, rng), std::nullopt);
}

TEST(RoundRobinTest, HostCountChangeResetsState) {
  std::vector<HostView> hosts(2);
  RoundRobin lb;
  EXPECT_EQ(picks(lb, hosts, all(2), 1), (std::vector<std::size_t>{0}));
  hosts.resize(3);
  EXPECT_EQ(picks(lb, hosts, all(3), 3), (std::vector<std::size_t>{0, 1, 2}));
}

}  // namespace
}  // namespace hawser::policy
