// The nat rules of `hawser iptables`, as the ECS agent writes them for a task
// definition's proxyConfiguration (type APPMESH), in chains of hawser's own.
// Plain data, no processes: iptables_command.cpp runs them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hawser::transparent {

inline constexpr const char* kIngressChain = "HAWSER_INGRESS";
inline constexpr const char* kEgressChain = "HAWSER_EGRESS";

struct IptablesOptions {
  uint16_t ingress_port = 15000;           // ProxyIngressPort
  uint16_t egress_port = 15001;            // ProxyEgressPort
  std::optional<uint32_t> uid;             // IgnoredUID: the sidecar's own traffic
  std::optional<uint32_t> gid;             // IgnoredGID
  std::vector<std::string> app_ports;      // AppPorts ("8080" or a range "9000:9010")
  std::vector<std::string> ignored_ips;    // EgressIgnoredIPs (addresses or CIDRs, either family)
  std::vector<std::string> ignored_ports;  // EgressIgnoredPorts
};

enum class Family { ipv4, ipv6 };

// One iptables invocation's arguments after the binary, e.g.
// {"-t", "nat", "-A", "HAWSER_EGRESS", "-p", "tcp", "-j", "REDIRECT", "--to-port", "15001"}.
using Rule = std::vector<std::string>;

// The rules appended to hawser's chains, in order (ingress chain first, empty
// when there are no app ports; then the egress chain).
std::vector<Rule> ingressRules(const IptablesOptions& o);
std::vector<Rule> egressRules(const IptablesOptions& o, Family f);
// The jumps into them from PREROUTING and OUTPUT (what -A, -C and -D take after the chain name).
Rule ingressJump();
Rule egressJump();

// Parses "8080,9090,9000:9010" (ports or ranges) and "10.0.0.0/8,fd00::1" lists;
// returns the problem, empty when fine.
std::string parsePortList(const std::string& text, std::vector<std::string>& out);
std::string parseAddressList(const std::string& text, std::vector<std::string>& out);
bool isIpv6(const std::string& address_or_cidr);

// A rule as a shell command line ("iptables -t nat -A ..."), for --dry-run.
std::string commandLine(const std::string& binary, const Rule& r);

}  // namespace hawser::transparent
