#include "policy/load_balancer.h"

#include <gtest/gtest.h>

#include <vector>

#include "policy/least_request.h"
#include "policy/random_lb.h"
#include "policy/round_robin.h"

namespace hawser::policy {
namespace {

TEST(LoadBalancerTest, FactoryMakesEachKind) {
  EXPECT_NE(dynamic_cast<RoundRobin*>(makeLoadBalancer(LoadBalancerKind::round_robin).get()), nullptr);
  EXPECT_NE(dynamic_cast<LeastRequest*>(makeLoadBalancer(LoadBalancerKind::least_request).get()), nullptr);
  EXPECT_NE(dynamic_cast<RandomLb*>(makeLoadBalancer(LoadBalancerKind::random).get()), nullptr);
}

TEST(LoadBalancerTest, EffectiveWeight) {
  HostView host;
  host.weight = 0;
  EXPECT_EQ(effectiveWeight(host), 1u);
  host.weight = 7;
  EXPECT_EQ(effectiveWeight(host), 7u);
}

}  // namespace
}  // namespace hawser::policy
