#include "policy/route_split.h"

#include <gtest/gtest.h>

#include <vector>

namespace hawser::policy {
namespace {

std::vector<Subset> canarySplit(std::uint32_t v1, std::uint32_t v2) {
  return {Subset{{{"version", "v1"}}, v1, ""}, Subset{{{"version", "v2"}}, v2, ""}};
}

TEST(SubsetMatchTest, EveryKeyMustMatch) {
  const Attributes endpoint{{"version", "v2"}, {"zone", "az1"}, {"track", "canary"}};
  EXPECT_TRUE(subsetMatches({{"version", "v2"}}, endpoint));
  EXPECT_TRUE(subsetMatches({{"version", "v2"}, {"track", "canary"}}, endpoint));
  EXPECT_TRUE(subsetMatches({}, endpoint));
  EXPECT_FALSE(subsetMatches({{"version", "v1"}}, endpoint));
  EXPECT_FALSE(subsetMatches({{"version", "v2"}, {"track", "stable"}}, endpoint));
  EXPECT_FALSE(subsetMatches({{"region", "us-east-1"}}, endpoint));
  EXPECT_FALSE(subsetMatches({{"version", "V2"}}, endpoint));
}

TEST(SubsetNameTest, DerivedNames) {
  EXPECT_EQ(defaultSubsetName({{"version", "v2"}}), "v2");
  EXPECT_EQ(defaultSubsetName({{"version", "v2"}, {"track", "canary"}}), "track=canary,version=v2");
  EXPECT_EQ(defaultSubsetName({}), "");
}

TEST(RouteSplitTest, RatiosWithinTolerance) {
  const RouteSplit split(canarySplit(90, 10));
  Random rng(12345);
  int v2 = 0;
  constexpr int kPicks = 10000;
  for (int i = 0; i < kPicks; ++i) v2 += *split.pick(rng) == 1;
  EXPECT_NEAR(v2, 1000, 90);  // ~3 sigma of a binomial(10000, 0.1)
}

TEST(RouteSplitTest, ThreeWayRatios) {
  const RouteSplit split({Subset{{{"v", "a"}}, 50, ""}, Subset{{{"v", "b"}}, 30, ""}, Subset{{{"v", "c"}}, 20, ""}});
  Random rng(777);
  std::vector<int> count(3);
  for (int i = 0; i < 10000; ++i) ++count[*split.pick(rng)];
  EXPECT_NEAR(count[0], 5000, 150);
  EXPECT_NEAR(count[1], 3000, 140);
  EXPECT_NEAR(count[2], 2000, 120);
}

TEST(RouteSplitTest, ZeroWeightIsNeverPickedButCanBePinned) {
  const RouteSplit split(canarySplit(100, 0));
  Random rng(1);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(split.pick(rng), 0u);
  EXPECT_EQ(split.choose("v2", rng), 1u);
  EXPECT_EQ(split.choose("v1", rng), 0u);
  EXPECT_EQ(split.choose("v3", rng), 0u);  // unknown name: weighted pick
  EXPECT_EQ(split.choose("", rng), 0u);
}

TEST(RouteSplitTest, ZeroWeightInTheMiddleIsSkipped) {
  const RouteSplit split({Subset{{{"v", "a"}}, 1, ""}, Subset{{{"v", "b"}}, 0, ""}, Subset{{{"v", "c"}}, 1, ""}});
  Random rng(4);
  std::vector<int> count(3);
  for (int i = 0; i < 2000; ++i) ++count[*split.pick(rng)];
  EXPECT_EQ(count[1], 0);
  EXPECT_NEAR(count[0], 1000, 100);
}

TEST(RouteSplitTest, NoWeightNoPick) {
  const RouteSplit split(canarySplit(0, 0));
  Random rng(1);
  EXPECT_EQ(split.pick(rng), std::nullopt);
  EXPECT_EQ(split.choose("v1", rng), 0u);
  EXPECT_EQ(RouteSplit({}).pick(rng), std::nullopt);
}

TEST(RouteSplitTest, ExplicitNameWins) {
  const RouteSplit split({Subset{{{"version", "v2"}}, 1, "canary"}});
  Random rng(1);
  EXPECT_EQ(split.find("canary"), 0u);
  EXPECT_EQ(split.find("v2"), std::nullopt);
  EXPECT_EQ(split.subsets()[0].name, "canary");
  EXPECT_EQ(split.totalWeight(), 1u);
}

TEST(RouteSplitTest, MembersOfASubset) {
  const RouteSplit split(canarySplit(90, 10));
  const std::vector<Attributes> endpoints{
      {{"version", "v1"}}, {{"version", "v2"}, {"az", "1"}}, {}, {{"version", "v1"}, {"az", "2"}}};
  std::vector<std::size_t> out{42};
  split.members(0, endpoints, out);
  EXPECT_EQ(out, (std::vector<std::size_t>{0, 3}));
  split.members(1, endpoints, out);
  EXPECT_EQ(out, (std::vector<std::size_t>{1}));
  split.members(5, endpoints, out);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace hawser::policy
