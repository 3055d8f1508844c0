// Where the transparent egress listener sends a connection, decided from its
// original destination alone: plain data and rules, no sockets (unit tested in
// tests/unit/dataplane/transparent/egress_route_test.cpp).
#pragma once

#include <boost/asio/ip/address.hpp>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "dataplane/config/config.h"

namespace hawser::transparent {

// The static part of egress matching, compiled once per snapshot from the
// services' virtual_ips and destination_ports. Service indices are positions
// in the snapshot's transparent service list.
struct EgressTable {
  struct VirtualIp {
    boost::asio::ip::address ip;
    uint16_t port = 0;  // 0: every port
    size_t service = 0;
  };
  std::vector<VirtualIp> virtual_ips;
  std::vector<std::pair<uint16_t, size_t>> ports;  // destination port -> service

  void add(const config::Service& svc, size_t index);
};

enum class EgressAction { service, passthrough, deny };

struct EgressDecision {
  EgressAction action = EgressAction::deny;
  size_t service = 0;               // for EgressAction::service
  std::string_view match = "none";  // what matched: endpoint | virtual_ip_port | virtual_ip | port | none
};

// The first that holds wins: the destination is an endpoint of a service
// (`endpoint_owner`, found by the caller in the live endpoint sets), a
// virtual IP with that port, a virtual IP for every port, a destination port
// of a service; otherwise the egress filter: passthrough (allow_all) or deny (drop_all).
EgressDecision decideEgress(const EgressTable& table, const boost::asio::ip::address& ip, uint16_t port,
                            std::optional<size_t> endpoint_owner, config::EgressFilter filter);

// v4-mapped IPv6 addresses (a dual-stack listener's view of IPv4) as IPv4.
boost::asio::ip::address unmapped(const boost::asio::ip::address& a);

// Whether the first bytes a client sent start an HTTP/1.x request.
enum class Sniffed { http, other, need_more };
Sniffed sniffHttp(std::string_view first_bytes);

}  // namespace hawser::transparent
