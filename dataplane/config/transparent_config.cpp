#include "dataplane/config/transparent_config.h"

#include <boost/asio/ip/address.hpp>

#include <charconv>

namespace hawser::config {
namespace {

bool isIp(const std::string& text) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(text, ec);
  return !ec;
}

// "10.0.0.1", "10.0.0.1:8080", "fd00::1", "[fd00::1]:8080".
Address readVirtualIp(const Field& f) {
  const auto text = f.nonEmptyString();
  const char* expected = "must be an IP address, optionally with :port (10.100.0.10, 10.100.0.10:80, [fd00::10]:80)";
  if (isIp(text)) return Address{boost::asio::ip::make_address(text).to_string(), 0};
  std::string host;
  std::string_view port;
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') f.fail(expected);
    host = text.substr(1, close - 1);
    port = std::string_view(text).substr(close + 2);
  } else {
    auto colon = text.find(':');
    if (colon == std::string::npos || text.find(':', colon + 1) != std::string::npos) f.fail(expected);
    host = text.substr(0, colon);
    port = std::string_view(text).substr(colon + 1);
  }
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (!isIp(host) || ec != std::errc() || end != port.data() + port.size() || p == 0 || p > 65535) f.fail(expected);
  return Address{boost::asio::ip::make_address(host).to_string(), static_cast<uint16_t>(p)};
}

// Entry k of services[i].*list must not be in an earlier place of any service's list.
template <class T>
void checkClaims(const std::vector<Service>& services, size_t i, const Field& list, std::vector<T> Service::*member) {
  const auto& mine = services[i].*member;
  for (size_t k = 0; k < mine.size(); ++k) {
    for (size_t j = 0; j <= i; ++j) {
      const auto& theirs = services[j].*member;
      const size_t end = j == i ? k : theirs.size();
      for (size_t m = 0; m < end; ++m) {
        if (theirs[m] == mine[k]) list.item(k).fail("already claimed by service \"" + services[j].name + "\"");
      }
    }
  }
}

}  // namespace

std::optional<TransparentOutbound> readTransparentOutbound(const Field& f) {
  if (!f.present()) return std::nullopt;
  TransparentOutbound t;
  f.expectMap({"listen", "egress_filter", "protocol_detection_timeout", "timeouts"});
  if (auto v = f.child("listen"); v.present()) t.listen = v.address();
  if (auto v = f.child("egress_filter"); v.present()) {
    t.egress_filter = v.oneOf<EgressFilter>({{"allow_all", EgressFilter::allow_all},
                                             {"drop_all", EgressFilter::drop_all},
                                             {"ALLOW_ALL", EgressFilter::allow_all},
                                             {"DROP_ALL", EgressFilter::drop_all}});
  }
  if (auto v = f.child("protocol_detection_timeout"); v.present()) {
    t.protocol_detection_timeout = v.duration();
    if (t.protocol_detection_timeout.count() == 0) v.fail("must be greater than 0");
    if (t.protocol_detection_timeout > Duration(10000)) v.fail("must be at most 10s");
  }
  if (auto v = f.child("timeouts"); v.present()) {
    v.expectMap({"connect", "idle"});
    if (auto c = v.child("connect"); c.present()) t.timeouts.connect = c.duration();
    if (auto c = v.child("idle"); c.present()) t.timeouts.idle = c.duration();
    if (t.timeouts.connect.count() == 0) v.child("connect").fail("must be greater than 0");
    if (t.timeouts.idle.count() == 0) v.child("idle").fail("must be greater than 0");
  }
  return t;
}

void readTransparentMatch(const Field& service, Service& svc) {
  if (auto v = service.child("virtual_ips"); v.present()) {
    size_t n = v.expectList();
    for (size_t i = 0; i < n; ++i) svc.virtual_ips.push_back(readVirtualIp(v.item(i)));
  }
  if (auto v = service.child("destination_ports"); v.present()) {
    size_t n = v.expectList();
    for (size_t i = 0; i < n; ++i)
      svc.destination_ports.push_back(static_cast<uint16_t>(v.item(i).unsignedInt(1, 65535)));
  }
}

void checkTransparent(const Config& c, const Field& inbound, const Field& services, const Field& outbound) {
  const auto& out = c.outbound;
  for (size_t i = 0; i < out.services.size(); ++i) {
    auto e = services.item(i);
    for (const char* key : {"virtual_ips", "destination_ports"}) {
      if (!out.transparent && e.child(key).present()) {
        e.child(key).fail("matches connections of the transparent egress listener; add outbound.transparent");
      }
    }
    checkClaims(out.services, i, e.child("virtual_ips"), &Service::virtual_ips);
    checkClaims(out.services, i, e.child("destination_ports"), &Service::destination_ports);
  }
  const Inbound* first = nullptr;
  for (size_t i = 0; i < c.inbound.size(); ++i) {
    const auto& in = c.inbound[i];
    if (!in.transparent) continue;
    auto e = inbound.item(i);
    if (!first) {
      first = &in;
      if (out.transparent && out.transparent->listen.port == in.listen.port && in.listen.port != 0) {
        e.child("listen").fail("the transparent ingress and egress listeners need different ports (" +
                               outbound.child("transparent").path() + ".listen)");
      }
      continue;
    }
    if (!(in.listen == first->listen)) {
      e.child("listen").fail("transparent inbound entries share one ingress listener; the first one listens on " +
                             first->listen.str());
    }
    for (size_t j = 0; j < i; ++j) {
      if (c.inbound[j].transparent && c.inbound[j].app.port == in.app.port) {
        e.child("app").fail("inbound \"" + c.inbound[j].name + "\" already takes original destination port " +
                            std::to_string(in.app.port));
      }
    }
  }
}

}  // namespace hawser::config
