#include "dataplane/transparent/egress_route.h"

#include <array>

namespace hawser::transparent {

boost::asio::ip::address unmapped(const boost::asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
  }
  return a;
}

void EgressTable::add(const config::Service& svc, size_t index) {
  for (const auto& v : svc.virtual_ips) virtual_ips.push_back({boost::asio::ip::make_address(v.host), v.port, index});
  for (auto p : svc.destination_ports) ports.emplace_back(p, index);
}

EgressDecision decideEgress(const EgressTable& table, const boost::asio::ip::address& ip, uint16_t port,
                            std::optional<size_t> endpoint_owner, config::EgressFilter filter) {
  if (endpoint_owner) return {EgressAction::service, *endpoint_owner, "endpoint"};
  const auto dst = unmapped(ip);
  const EgressTable::VirtualIp* any_port = nullptr;
  for (const auto& v : table.virtual_ips) {
    if (v.ip != dst) continue;
    if (v.port == port) return {EgressAction::service, v.service, "virtual_ip_port"};
    if (v.port == 0 && !any_port) any_port = &v;
  }
  if (any_port) return {EgressAction::service, any_port->service, "virtual_ip"};
  for (const auto& [p, service] : table.ports) {
    if (p == port) return {EgressAction::service, service, "port"};
  }
  if (filter == config::EgressFilter::allow_all) return {EgressAction::passthrough, 0, "none"};
  return {EgressAction::deny, 0, "none"};
}

Sniffed sniffHttp(std::string_view b) {
  // RFC 9110 methods; an HTTP/2 preface ("PRI * HTTP/2.0") is not HTTP/1.x and goes as TCP.
  static constexpr std::array<std::string_view, 9> kMethods = {"GET ",     "HEAD ",    "POST ",  "PUT ",  "DELETE ",
                                                               "CONNECT ", "OPTIONS ", "TRACE ", "PATCH "};
  bool prefix_of_some = false;
  for (auto m : kMethods) {
    if (b.size() >= m.size()) {
      if (b.substr(0, m.size()) == m) return Sniffed::http;
    } else if (m.substr(0, b.size()) == b) {
      prefix_of_some = true;
    }
  }
  return prefix_of_some ? Sniffed::need_more : Sniffed::other;
}

}  // namespace hawser::transparent
