// Cluster: how the request path's endpoint choice combines routes, subsets,
// health, ejection, zones and the load balancer (the decisions themselves
// are policy/'s and tested there).
#include "dataplane/cluster.h"

#include <gtest/gtest.h>

#include <boost/beast/http.hpp>
#include <map>

namespace hawser {
namespace {

namespace http = boost::beast::http;

std::shared_ptr<const discovery::EndpointSet> endpoints(
    std::vector<std::pair<uint16_t, std::map<std::string, std::string>>> list) {
  std::vector<discovery::EndpointSpec> specs;
  for (auto& [port, attrs] : list) specs.push_back({"127.0.0.1", port, attrs});
  return discovery::mergeEndpoints(nullptr, specs);
}

std::shared_ptr<Cluster> cluster(config::LoadBalancer lb = config::LoadBalancer::round_robin,
                                 policy::HostSelectionPolicy hosts = {}) {
  return std::make_shared<Cluster>("svc", config::Timeouts{}, lb, config::Protocol::http, 1, hosts);
}

std::map<uint16_t, int> count(Cluster& c, int n, std::optional<size_t> subset = std::nullopt) {
  std::map<uint16_t, int> out;
  for (int i = 0; i < n; ++i) {
    auto e = c.pick(0, nullptr, subset);
    if (e) ++out[e->port];
  }
  return out;
}

ClusterRoute splitRoute(std::vector<policy::Subset> subsets, std::string prefix = "/") {
  ClusterRoute r;
  r.prefix = std::move(prefix);
  r.split.emplace(std::move(subsets));
  return r;
}

TEST(ClusterTest, WeightedRoundRobinFollowsTheWeightAttribute) {
  auto c = cluster();
  c->install(0, endpoints({{1, {{"weight", "3"}}}, {2, {}}}));
  EXPECT_EQ(count(*c, 400), (std::map<uint16_t, int>{{1, 300}, {2, 100}}));
}

TEST(ClusterTest, UnhealthyAndEjectedEndpointsAreNotPicked) {
  auto c = cluster();
  auto set = endpoints({{1, {}}, {2, {}}, {3, {}}, {4, {}}});
  c->install(0, set);
  (*set)[0]->unhealthy = true;
  (*set)[1]->ejected = true;
  EXPECT_EQ(count(*c, 100), (std::map<uint16_t, int>{{3, 50}, {4, 50}}));
}

TEST(ClusterTest, PanicSpreadsOverAllWhenTooFewAreUsable) {
  auto c = cluster();
  auto set = endpoints({{1, {}}, {2, {}}, {3, {}}});
  c->install(0, set);
  (*set)[0]->unhealthy = true;
  (*set)[1]->unhealthy = true;  // 1 of 3 usable: below the 50% panic threshold
  EXPECT_EQ(count(*c, 300).size(), 3u);
}

TEST(ClusterTest, AvoidsThePreviousEndpointWhenAnotherExists) {
  auto c = cluster(config::LoadBalancer::random);
  auto set = endpoints({{1, {}}, {2, {}}});
  c->install(0, set);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(c->pick(0, (*set)[0].get())->port, 2);
  auto single = cluster();
  auto one = endpoints({{1, {}}});
  single->install(0, one);
  EXPECT_EQ(single->pick(0, (*one)[0].get())->port, 1);  // the only one, avoided or not
}

TEST(ClusterTest, PrefersTheLocalZoneAndSpillsWhenItIsShort) {
  policy::HostSelectionPolicy hosts;
  hosts.local_zone = "a";
  auto c = cluster(config::LoadBalancer::round_robin, hosts);
  auto set = endpoints({{1, {{"AVAILABILITY_ZONE", "a"}}},
                        {2, {{"AVAILABILITY_ZONE", "a"}}},
                        {3, {{"AVAILABILITY_ZONE", "b"}}},
                        {4, {{"AVAILABILITY_ZONE", "b"}}}});
  c->install(0, set);
  EXPECT_EQ(count(*c, 100), (std::map<uint16_t, int>{{1, 50}, {2, 50}}));
  (*set)[0]->ejected = true;  // half the local zone: below the 70% spill threshold
  EXPECT_EQ(count(*c, 300), (std::map<uint16_t, int>{{2, 100}, {3, 100}, {4, 100}}));
  (*set)[1]->ejected = true;  // the local zone is gone
  EXPECT_EQ(count(*c, 100), (std::map<uint16_t, int>{{3, 50}, {4, 50}}));
}

TEST(ClusterTest, SubsetMembershipFollowsInstalledSets) {
  auto c = cluster();
  c->setRoutes({splitRoute({{{{"version", "v1"}}, 1, ""}, {{{"version", "v2"}}, 1, ""}})});
  c->install(0, endpoints({{1, {{"version", "v1"}}}, {2, {{"version", "v2"}}}, {3, {{"version", "v1"}}}}));
  const auto& route = c->routes()[0];
  EXPECT_EQ(count(*c, 100, route.subset_ids[0]), (std::map<uint16_t, int>{{1, 50}, {3, 50}}));
  EXPECT_EQ(count(*c, 10, route.subset_ids[1]), (std::map<uint16_t, int>{{2, 10}}));
  c->install(0, endpoints({{4, {{"version", "v2"}}}}));  // a new set: v1 is empty now
  EXPECT_EQ(c->pick(0, nullptr, route.subset_ids[0]), nullptr);
  EXPECT_EQ(count(*c, 10, route.subset_ids[1]), (std::map<uint16_t, int>{{4, 10}}));
}

TEST(ClusterTest, ChooseSubsetByWeightSkippingEmptySubsetsAndHonouringThePin) {
  auto c = cluster();
  c->setRoutes({splitRoute({{{{"version", "v1"}}, 90, ""},
                            {{{"version", "v2"}}, 10, ""},
                            {{{"version", "v3"}}, 0, "dark"},
                            {{{"version", "v4"}}, 50, ""}})});
  c->install(0, endpoints({{1, {{"version", "v1"}}}, {2, {{"version", "v2"}}}, {3, {{"version", "v3"}}}}));
  const auto& route = c->routes()[0];
  std::map<size_t, int> picks;
  for (int i = 0; i < 10000; ++i) ++picks[*c->chooseSubset(0, route, "")];
  // v4 has no endpoints: its weight is not drawn; v3 has weight 0.
  EXPECT_EQ(picks.size(), 2u);
  EXPECT_NEAR(picks[route.subset_ids[0]], 9000, 200);
  EXPECT_NEAR(picks[route.subset_ids[1]], 1000, 200);
  EXPECT_EQ(c->chooseSubset(0, route, "dark"), route.subset_ids[2]);  // pinned by its name
  EXPECT_EQ(c->chooseSubset(0, route, "v4"), route.subset_ids[3]);    // pinned even when empty
}

TEST(ClusterTest, RoutesMatchByPrefixThenHeadersFirstMatchWins) {
  auto c = cluster();
  ClusterRoute blue;
  blue.prefix = "/api";
  blue.headers = {{"x-team", "blue"}};
  ClusterRoute api;
  api.prefix = "/api";
  c->setRoutes({blue, api});
  http::request<http::empty_body> req{http::verb::get, "/api/v1/items", 11};
  EXPECT_EQ(c->matchRoute(req), &c->routes()[1]);
  req.set("X-Team", "blue");
  EXPECT_EQ(c->matchRoute(req), &c->routes()[0]);
  req.set("X-Team", "green");
  EXPECT_EQ(c->matchRoute(req), &c->routes()[1]);
  req.target("/other");
  EXPECT_EQ(c->matchRoute(req), nullptr);
}

}  // namespace
}  // namespace hawser
