#include "policy/healthy_hosts.h"

#include <gtest/gtest.h>

#include <vector>

namespace hawser::policy {
namespace {

using Indices = std::vector<std::size_t>;

HostView host(std::string_view zone, bool healthy = true, bool ejected = false) {
  HostView h;
  h.zone = zone;
  h.healthy = healthy;
  h.ejected = ejected;
  return h;
}

TEST(HealthyHostsTest, EmptySet) {
  std::vector<std::size_t> out{9};
  EXPECT_EQ(healthyHosts({}, {}, out), HostSelection::no_hosts);
  EXPECT_TRUE(out.empty());
}

TEST(HealthyHostsTest, FiltersUnhealthyAndEjected) {
  const std::vector<HostView> hosts{host("a"), host("a", false), host("a"), host("a", true, true)};
  std::vector<std::size_t> out;
  EXPECT_EQ(healthyHosts(hosts, {}, out), HostSelection::all_usable);
  EXPECT_EQ(out, (Indices{0, 2}));
}

TEST(HealthyHostsTest, PanicBelowThresholdUsesAllHosts) {
  // 1 of 3 usable: 33% < 50%.
  const std::vector<HostView> hosts{host("a", false), host("a"), host("a", true, true)};
  std::vector<std::size_t> out;
  EXPECT_EQ(healthyHosts(hosts, {}, out), HostSelection::panic);
  EXPECT_EQ(out, (Indices{0, 1, 2}));
  EXPECT_EQ(hostSelectionName(HostSelection::panic), "panic");
}

TEST(HealthyHostsTest, ExactlyAtThresholdIsNotPanic) {
  const std::vector<HostView> hosts{host("a", false), host("a")};
  std::vector<std::size_t> out;
  EXPECT_EQ(healthyHosts(hosts, {}, out), HostSelection::all_usable);
  EXPECT_EQ(out, (Indices{1}));
}

TEST(HealthyHostsTest, NoneUsableIsPanicEvenWithZeroThreshold) {
  const std::vector<HostView> hosts{host("a", false), host("a", true, true)};
  HostSelectionPolicy policy;
  policy.panic_threshold_percent = 0;
  std::vector<std::size_t> out;
  EXPECT_EQ(healthyHosts(hosts, policy, out), HostSelection::panic);
  EXPECT_EQ(out, (Indices{0, 1}));

  const std::vector<HostView> one_ok{host("a", false), host("a", false), host("a")};
  EXPECT_EQ(healthyHosts(one_ok, policy, out), HostSelection::all_usable);
  EXPECT_EQ(out, (Indices{2}));
}

TEST(HealthyHostsTest, PrefersTheLocalZone) {
  const std::vector<HostView> hosts{host("use1-az1"), host("use1-az2"), host("use1-az1"), host("use1-az3")};
  HostSelectionPolicy policy;
  policy.local_zone = "use1-az1";
  std::vector<std::size_t> out;
  EXPECT_EQ(healthyHosts(hosts, policy, out), HostSelection::local_zone);
  EXPECT_EQ(out, (Indices{0, 2}));
}

TEST(HealthyHostsTest, SpillsToEveryZoneWhenLocalFallsBelowThreshold) {
  // Local zone: 3 hosts. 3/3 and (after one loss) 2/3 = 66% < 70% spills.
  std::vector<HostView> hosts{host("az1"), host("az1"), host("az1"), host("az2"), host("az2"), host("az2")};
  HostSelectionPolicy policy;
  policy.local_zone = "az1";
  std::vector<std::size_t> out;
  EXPECT_EQ(healthyHosts(hosts, policy, out), HostSelection::local_zone);
  EXPECT_EQ(out, (Indices{0, 1, 2}));

  hosts[1].ejected = true;
  EXPECT_EQ(healthyHosts(hosts, policy, out), HostSelection::zone_spill);
  EXPECT_EQ(out, (Indices{0, 2, 3, 4, 5}));
  EXPECT_EQ(hostSelectionName(HostSelection::zone_spill), "zone_spill");

  policy.zone_spill_percent = 60;  // 66% >= 60%: stay local
  EXPECT_EQ(healthyHosts(hosts, policy, out), HostSelection::local_zone);
  EXPECT_EQ(out, (Indices{0, 2}));
}

TEST(HealthyHostsTest, WholeLocalZoneDownFailsOver) {
  std::vector<HostView> hosts{host("az1", false), host("az2"), host("az2"), host("az1", false), host("az3")};
  HostSelectionPolicy policy;
  policy.local_zone = "az1";
  std::vector<std::size_t> out;
  EXPECT_EQ(healthyHosts(hosts, policy, out), HostSelection::zone_spill);
  EXPECT_EQ(out, (Indices{1, 2, 4}));
}

TEST(HealthyHostsTest, ZeroSpillPercentStaysLocalWhileAnyLocalIsUsable) {
  std::vector<HostView> hosts{host("az1", false), host("az1"), host("az1", false), host("az2"), host("az2")};
  HostSelectionPolicy policy;
  policy.local_zone = "az1";
  policy.zone_spill_percent = 0;
  std::vector<std::size_t> out;
  EXPECT_EQ(healthyHosts(hosts, policy, out), HostSelection::local_zone);
  EXPECT_EQ(out, (Indices{1}));
}

TEST(HealthyHostsTest, NoHostInTheLocalZoneIsNotZoneAware) {
  const std::vector<HostView> hosts{host("az2"), host("az3")};
  HostSelectionPolicy policy;
  policy.local_zone = "az1";
  std::vector<std::size_t> out;
  EXPECT_EQ(healthyHosts(hosts, policy, out), HostSelection::all_usable);
  EXPECT_EQ(out, (Indices{0, 1}));
}

TEST(HealthyHostsTest, PanicIgnoresZones) {
  const std::vector<HostView> hosts{host("az1"), host("az2", false), host("az2", false), host("az2", false)};
  HostSelectionPolicy policy;
  policy.local_zone = "az1";
  std::vector<std::size_t> out;
  EXPECT_EQ(healthyHosts(hosts, policy, out), HostSelection::panic);
  EXPECT_EQ(out, (Indices{0, 1, 2, 3}));
}

}  // namespace
}  // namespace hawser::policy
