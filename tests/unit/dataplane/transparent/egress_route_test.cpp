#include "dataplane/transparent/egress_route.h"

#include <gtest/gtest.h>

namespace hawser::transparent {
namespace {

using boost::asio::ip::make_address;

config::Service service(std::vector<config::Address> vips, std::vector<uint16_t> ports) {
  config::Service s;
  s.virtual_ips = std::move(vips);
  s.destination_ports = std::move(ports);
  return s;
}

EgressTable table() {
  EgressTable t;
  t.add(service({{"10.100.0.10", 0}}, {}), 0);                           // every port of a VIP
  t.add(service({{"10.100.0.10", 8443}, {"fd00::10", 80}}, {5432}), 1);  // one port of the same VIP wins
  t.add(service({}, {6379}), 2);
  return t;
}

TEST(DecideEgress, AnEndpointOfAServiceWinsOverEverything) {
  auto d = decideEgress(table(), make_address("10.100.0.10"), 8443, 2, config::EgressFilter::drop_all);
  EXPECT_EQ(d.action, EgressAction::service);
  EXPECT_EQ(d.service, 2u);
  EXPECT_EQ(d.match, "endpoint");
}

TEST(DecideEgress, AVirtualIpWithThePortBeatsTheSameIpForEveryPort) {
  auto d = decideEgress(table(), make_address("10.100.0.10"), 8443, std::nullopt, config::EgressFilter::drop_all);
  EXPECT_EQ(d.service, 1u);
  EXPECT_EQ(d.match, "virtual_ip_port");
  d = decideEgress(table(), make_address("10.100.0.10"), 9000, std::nullopt, config::EgressFilter::drop_all);
  EXPECT_EQ(d.action, EgressAction::service);
  EXPECT_EQ(d.service, 0u);
  EXPECT_EQ(d.match, "virtual_ip");
}

TEST(DecideEgress, IPv6AndV4MappedAddresses) {
  auto d = decideEgress(table(), make_address("fd00::10"), 80, std::nullopt, config::EgressFilter::drop_all);
  EXPECT_EQ(d.service, 1u);
  // A dual-stack listener sees IPv4 destinations as ::ffff:a.b.c.d.
  d = decideEgress(table(), make_address("::ffff:10.100.0.10"), 8443, std::nullopt, config::EgressFilter::drop_all);
  EXPECT_EQ(d.service, 1u);
  EXPECT_EQ(d.match, "virtual_ip_port");
}

TEST(DecideEgress, ADestinationPortMatchesAnyAddressAfterEveryAddressMatch) {
  auto d = decideEgress(table(), make_address("192.0.2.7"), 6379, std::nullopt, config::EgressFilter::drop_all);
  EXPECT_EQ(d.service, 2u);
  EXPECT_EQ(d.match, "port");
  // 5432 is service 1's port, but the VIP of service 0 matches first.
  d = decideEgress(table(), make_address("10.100.0.10"), 5432, std::nullopt, config::EgressFilter::drop_all);
  EXPECT_EQ(d.service, 0u);
}

TEST(DecideEgress, NoMatchFollowsTheEgressFilter) {
  auto d = decideEgress(table(), make_address("192.0.2.7"), 443, std::nullopt, config::EgressFilter::allow_all);
  EXPECT_EQ(d.action, EgressAction::passthrough);
  d = decideEgress(table(), make_address("192.0.2.7"), 443, std::nullopt, config::EgressFilter::drop_all);
  EXPECT_EQ(d.action, EgressAction::deny);
  d = decideEgress(EgressTable{}, make_address("192.0.2.7"), 443, std::nullopt, config::EgressFilter::drop_all);
  EXPECT_EQ(d.action, EgressAction::deny);
}

TEST(SniffHttp, MethodsAreHttpEverythingElseIsNot) {
  EXPECT_EQ(sniffHttp("GET / HTTP/1.1\r\n"), Sniffed::http);
  EXPECT_EQ(sniffHttp("POST /x"), Sniffed::http);
  EXPECT_EQ(sniffHttp("OPTIONS * HTTP/1.1"), Sniffed::http);
  EXPECT_EQ(sniffHttp("\x16\x03\x01\x02\x00"), Sniffed::other);  // a TLS ClientHello
  EXPECT_EQ(sniffHttp("PRI * HTTP/2.0\r\n"), Sniffed::other);    // HTTP/2 prior knowledge goes as TCP
  EXPECT_EQ(sniffHttp("SSH-2.0-OpenSSH"), Sniffed::other);
  EXPECT_EQ(sniffHttp("get / HTTP/1.1"), Sniffed::other);  // methods are case-sensitive
  EXPECT_EQ(sniffHttp("GETX"), Sniffed::other);
}

TEST(SniffHttp, APrefixOfAMethodWaitsForMore) {
  EXPECT_EQ(sniffHttp(""), Sniffed::need_more);
  EXPECT_EQ(sniffHttp("G"), Sniffed::need_more);
  EXPECT_EQ(sniffHttp("DELE"), Sniffed::need_more);
  EXPECT_EQ(sniffHttp("P"), Sniffed::need_more);  // POST, PUT, PATCH
}

}  // namespace
}  // namespace hawser::transparent
