#include "dataplane/transparent/iptables_rules.h"

#include <boost/asio/ip/address.hpp>

#include <charconv>

namespace hawser::transparent {
namespace {

// iptables' multiport match takes at most 15 ports (a range counts as two).
std::vector<std::string> multiportGroups(const std::vector<std::string>& ports) {
  std::vector<std::string> groups;
  std::string current;
  int used = 0;
  for (const auto& p : ports) {
    const int cost = p.find(':') == std::string::npos ? 1 : 2;
    if (used + cost > 15) {
      groups.push_back(current);
      current.clear();
      used = 0;
    }
    current += (current.empty() ? "" : ",") + p;
    used += cost;
  }
  if (!current.empty()) groups.push_back(current);
  return groups;
}

bool parsePort(std::string_view s, unsigned& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && out >= 1 && out <= 65535;
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    auto item = text.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) items.push_back(item);
    start = comma + 1;
  }
  return items;
}

}  // namespace

std::string parsePortList(const std::string& text, std::vector<std::string>& out) {
  for (const auto& item : split(text)) {
    auto colon = item.find(':');
    unsigned a = 0;
    unsigned b = 0;
    if (colon == std::string::npos) {
      if (!parsePort(item, a)) return "\"" + item + "\" is not a port (1-65535)";
    } else if (!parsePort(std::string_view(item).substr(0, colon), a) ||
               !parsePort(std::string_view(item).substr(colon + 1), b) || b < a) {
      return "\"" + item + "\" is not a port range (low:high)";
    }
    out.push_back(item);
  }
  return {};
}

std::string parseAddressList(const std::string& text, std::vector<std::string>& out) {
  for (const auto& item : split(text)) {
    auto slash = item.find('/');
    boost::system::error_code ec;
    auto ip = boost::asio::ip::make_address(item.substr(0, slash), ec);
    if (ec) return "\"" + item + "\" is not an IP address or CIDR";
    if (slash != std::string::npos) {
      unsigned bits = 0;
      auto len = std::string_view(item).substr(slash + 1);
      auto [end, pec] = std::from_chars(len.data(), len.data() + len.size(), bits);
      if (pec != std::errc() || end != len.data() + len.size() || bits > (ip.is_v4() ? 32u : 128u)) {
        return "\"" + item + "\" has a bad prefix length";
      }
    }
    out.push_back(item);
  }
  return {};
}

bool isIpv6(const std::string& a) {
  return a.find(':') != std::string::npos;
}

std::vector<Rule> ingressRules(const IptablesOptions& o) {
  std::vector<Rule> rules;
  for (const auto& group : multiportGroups(o.app_ports)) {
    rules.push_back({"-t", "nat", "-A", kIngressChain, "-p", "tcp", "-m", "multiport", "--dports", group, "-j",
                     "REDIRECT", "--to-port", std::to_string(o.ingress_port)});
  }
  return rules;
}

std::vector<Rule> egressRules(const IptablesOptions& o, Family f) {
  std::vector<Rule> rules;
  if (o.uid) {
    rules.push_back(
        {"-t", "nat", "-A", kEgressChain, "-m", "owner", "--uid-owner", std::to_string(*o.uid), "-j", "RETURN"});
  }
  if (o.gid) {
    rules.push_back(
        {"-t", "nat", "-A", kEgressChain, "-m", "owner", "--gid-owner", std::to_string(*o.gid), "-j", "RETURN"});
  }
  for (const auto& group : multiportGroups(o.ignored_ports)) {
    rules.push_back(
        {"-t", "nat", "-A", kEgressChain, "-p", "tcp", "-m", "multiport", "--dports", group, "-j", "RETURN"});
  }
  std::string ips;
  for (const auto& ip : o.ignored_ips) {
    if (isIpv6(ip) != (f == Family::ipv6)) continue;
    ips += (ips.empty() ? "" : ",") + ip;
  }
  if (!ips.empty()) rules.push_back({"-t", "nat", "-A", kEgressChain, "-p", "tcp", "-d", ips, "-j", "RETURN"});
  rules.push_back(
      {"-t", "nat", "-A", kEgressChain, "-p", "tcp", "-j", "REDIRECT", "--to-port", std::to_string(o.egress_port)});
  return rules;
}

Rule ingressJump() {
  return {"-p", "tcp", "-m", "addrtype", "!", "--src-type", "LOCAL", "-j", kIngressChain};
}

Rule egressJump() {
  return {"-p", "tcp", "-m", "addrtype", "!", "--dst-type", "LOCAL", "-j", kEgressChain};
}

std::string commandLine(const std::string& binary, const Rule& r) {
  std::string line = binary;
  for (const auto& a : r) line += " " + a;
  return line;
}

}  // namespace hawser::transparent
