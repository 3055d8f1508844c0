#include <gtest/gtest.h>

#include <string>

#include "dataplane/config/config.h"

namespace hawser::config {
namespace {

std::string errorOf(const std::string& yaml) {
  try {
    loadText(yaml, "t.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

const char* kBase = R"(
node: {service: a, namespace: demo}
inbound:
  - name: web
    listen: 0.0.0.0:15000
    transparent: true
    app: 127.0.0.1:8080
    tls: {mode: disabled}
  - name: grpc
    listen: 0.0.0.0:15000
    transparent: true
    protocol: tcp
    app: 127.0.0.1:9090
    tls: {mode: disabled}
outbound:
  transparent: {egress_filter: drop_all, protocol_detection_timeout: 250ms}
  services:
    - name: b
      tls: {mode: disabled}
      discovery: {static: ["10.0.0.2:8080"]}
      virtual_ips: [10.100.0.10, "10.100.0.11:80", "[fd00::10]:8080"]
      destination_ports: [6379]
)";

TEST(TransparentConfig, KeysAndDefaults) {
  auto c = loadText(kBase, "t.yaml");
  ASSERT_TRUE(c.outbound.transparent);
  EXPECT_EQ(c.outbound.transparent->listen, (Address{"127.0.0.1", 15001}));
  EXPECT_EQ(c.outbound.transparent->egress_filter, EgressFilter::drop_all);
  EXPECT_EQ(c.outbound.transparent->protocol_detection_timeout, Duration(250));
  EXPECT_TRUE(c.inbound[0].transparent);
  EXPECT_TRUE(c.inbound[1].transparent);
  const auto& b = c.outbound.services[0];
  ASSERT_EQ(b.virtual_ips.size(), 3u);
  EXPECT_EQ(b.virtual_ips[0], (Address{"10.100.0.10", 0}));
  EXPECT_EQ(b.virtual_ips[1], (Address{"10.100.0.11", 80}));
  EXPECT_EQ(b.virtual_ips[2], (Address{"fd00::10", 8080}));
  EXPECT_EQ(b.destination_ports, std::vector<uint16_t>{6379});

  auto d = loadText("outbound: {transparent: {}}\n", "t.yaml");
  ASSERT_TRUE(d.outbound.transparent);
  EXPECT_EQ(d.outbound.transparent->egress_filter, EgressFilter::allow_all);
  EXPECT_EQ(d.outbound.transparent->protocol_detection_timeout, Duration(100));
  // App Mesh's spelling of the filter is accepted too.
  auto e = loadText("outbound: {transparent: {egress_filter: DROP_ALL}}\n", "t.yaml");
  EXPECT_EQ(e.outbound.transparent->egress_filter, EgressFilter::drop_all);
}

TEST(TransparentConfig, ErrorsNameTheFileLineAndKey) {
  std::string y = kBase;
  auto without_transparent = y;
  without_transparent.replace(
      without_transparent.find("  transparent: {egress_filter"),
      std::string("  transparent: {egress_filter: drop_all, protocol_detection_timeout: 250ms}\n").size(), "");
  EXPECT_NE(errorOf(without_transparent)
                .find("t.yaml:20: outbound.services[0].virtual_ips: matches connections of "
                      "the transparent egress listener; add outbound.transparent"),
            std::string::npos)
      << errorOf(without_transparent);

  auto other_listen = y;
  other_listen.replace(other_listen.find("0.0.0.0:15000", other_listen.find("grpc")), 13, "0.0.0.0:15002");
  EXPECT_NE(errorOf(other_listen)
                .find("t.yaml:10: inbound[1].listen: transparent inbound entries share one ingress "
                      "listener; the first one listens on 0.0.0.0:15000"),
            std::string::npos)
      << errorOf(other_listen);

  auto same_port = y;
  same_port.replace(same_port.find("127.0.0.1:9090"), 14, "127.0.0.1:8080");
  EXPECT_NE(errorOf(same_port).find("inbound[1].app: inbound \"web\" already takes original destination port 8080"),
            std::string::npos)
      << errorOf(same_port);

  EXPECT_NE(errorOf("outbound: {transparent: {egress_filter: deny}}\n").find("outbound.transparent.egress_filter"),
            std::string::npos);
  EXPECT_NE(errorOf("outbound: {transparent: {listen: 127.0.0.1:15001, bogus: 1}}\n")
                .find("outbound.transparent.bogus: unknown key"),
            std::string::npos);
  EXPECT_NE(errorOf(std::string(kBase) + "    - name: c\n      tls: {mode: disabled}\n      discovery: {static: "
                                         "[\"10.0.0.3:80\"]}\n      virtual_ips: [10.100.0.10]\n")
                .find("outbound.services[1].virtual_ips[0]: already claimed by service \"b\""),
            std::string::npos);
  EXPECT_NE(errorOf(std::string(kBase) + "    - name: c\n      tls: {mode: disabled}\n      discovery: {static: "
                                         "[\"10.0.0.3:80\"]}\n      destination_ports: [6379]\n")
                .find("outbound.services[1].destination_ports[0]: already claimed by service \"b\""),
            std::string::npos);
  auto bad_vip = y;
  bad_vip.replace(bad_vip.find("10.100.0.10,"), 11, "b.internal");
  EXPECT_NE(errorOf(bad_vip).find("outbound.services[0].virtual_ips[0]: must be an IP address"), std::string::npos)
      << errorOf(bad_vip);
  // The egress listener may not share the ingress listener's address.
  EXPECT_NE(errorOf("inbound: [{name: w, listen: 127.0.0.1:15001, transparent: true, app: 127.0.0.1:80, tls: {mode: "
                    "disabled}}]\noutbound: {transparent: {}}\n")
                .find("inbound[0].listen"),
            std::string::npos);
}

}  // namespace
}  // namespace hawser::config
