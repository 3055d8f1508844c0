#include "dataplane/transparent/iptables_command.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

#include "dataplane/transparent/iptables_rules.h"

namespace hawser::transparent {
namespace {

// A fake nat table per binary: chains hold rule lines as `iptables -S` prints them.
class FakeIptables : public CommandRunner {
 public:
  std::map<std::string, std::map<std::string, std::vector<std::string>>> tables;  // binary -> chain -> rules
  std::vector<std::string> log;
  bool ip6_available = true;

  FakeIptables() {
    for (const char* bin : {"iptables", "ip6tables"}) {
      for (const char* c : {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"}) tables[bin][c];
    }
  }

  int run(const std::vector<std::string>& argv, std::string& out, std::string& err) override {
    const auto& bin = argv.at(0);
    if (bin == "ip6tables" && !ip6_available) {
      err = "ip6tables: not found";
      return 127;
    }
    EXPECT_EQ(argv.at(1), "-t");
    EXPECT_EQ(argv.at(2), "nat");
    const auto& verb = argv.at(3);
    const auto& chain = argv.at(4);
    std::string rest;
    for (size_t i = 5; i < argv.size(); ++i) rest += " " + argv[i];
    auto& t = tables[bin];
    if (verb != "-S" && verb != "-C") log.push_back(bin + " " + verb + " " + chain + rest);
    if (verb == "-N") {
      if (t.count(chain)) return 1;
      t[chain];
      return 0;
    }
    if (!t.count(chain)) {
      err = "No chain/target/match by that name.";
      return 1;
    }
    auto& rules = t[chain];
    const std::string line = "-A " + chain + rest;
    if (verb == "-S") {
      out = "-N " + chain + "\n";
      for (const auto& r : rules) out += r + "\n";
      return 0;
    }
    if (verb == "-A") {
      rules.push_back(line);
      return 0;
    }
    if (verb == "-C") return std::find(rules.begin(), rules.end(), line) == rules.end() ? 1 : 0;
    if (verb == "-D") {
      auto it = std::find(rules.begin(), rules.end(), line);
      if (it == rules.end()) return 1;
      rules.erase(it);
      return 0;
    }
    if (verb == "-F") {
      rules.clear();
      return 0;
    }
    if (verb == "-X") {
      t.erase(chain);
      return 0;
    }
    return 2;
  }
};

int run(FakeIptables& fake, std::vector<std::string> args, std::string* out_text = nullptr) {
  std::ostringstream out;
  std::ostringstream err;
  int rc = iptablesMain(args, out, err, fake);
  if (out_text) *out_text = out.str() + err.str();
  return rc;
}

const std::vector<std::string> kEcsArgs = {"--ingress-port",
                                           "15000",
                                           "--egress-port",
                                           "15001",
                                           "--uid",
                                           "1337",
                                           "--app-ports",
                                           "8080,9090",
                                           "--egress-ignored-ips",
                                           "169.254.170.2,169.254.169.254,fd00:ec2::254",
                                           "--egress-ignored-ports",
                                           "22"};

TEST(IptablesCommand, InstallsTheRulesEcsWritesForProxyConfiguration) {
  FakeIptables fake;
  ASSERT_EQ(run(fake, kEcsArgs), 0);
  auto& v4 = fake.tables["iptables"];
  EXPECT_EQ(v4["HAWSER_INGRESS"],
            (std::vector<std::string>{
                "-A HAWSER_INGRESS -p tcp -m multiport --dports 8080,9090 -j REDIRECT --to-port 15000"}));
  EXPECT_EQ(v4["PREROUTING"],
            (std::vector<std::string>{"-A PREROUTING -p tcp -m addrtype ! --src-type LOCAL -j HAWSER_INGRESS"}));
  EXPECT_EQ(v4["HAWSER_EGRESS"], (std::vector<std::string>{
                                     "-A HAWSER_EGRESS -m owner --uid-owner 1337 -j RETURN",
                                     "-A HAWSER_EGRESS -p tcp -m multiport --dports 22 -j RETURN",
                                     "-A HAWSER_EGRESS -p tcp -d 169.254.170.2,169.254.169.254 -j RETURN",
                                     "-A HAWSER_EGRESS -p tcp -j REDIRECT --to-port 15001",
                                 }));
  EXPECT_EQ(v4["OUTPUT"],
            (std::vector<std::string>{"-A OUTPUT -p tcp -m addrtype ! --dst-type LOCAL -j HAWSER_EGRESS"}));
  // The IPv6 ignored address goes to ip6tables only.
  EXPECT_EQ(fake.tables["ip6tables"]["HAWSER_EGRESS"].at(2), "-A HAWSER_EGRESS -p tcp -d fd00:ec2::254 -j RETURN");
}

TEST(IptablesCommand, InstallingTwiceLeavesOneSet) {
  FakeIptables fake;
  ASSERT_EQ(run(fake, kEcsArgs), 0);
  auto once = fake.tables;
  ASSERT_EQ(run(fake, kEcsArgs), 0);
  EXPECT_EQ(fake.tables, once);
}

TEST(IptablesCommand, RemoveDeletesOnlyHawsersChainsAndJumps) {
  FakeIptables fake;
  fake.tables["iptables"]["OUTPUT"].push_back("-A OUTPUT -d 10.9.9.9/32 -j RETURN");
  fake.tables["iptables"]["OTHER_MESH"].push_back("-A OTHER_MESH -j RETURN");
  auto before = fake.tables;
  ASSERT_EQ(run(fake, kEcsArgs), 0);
  ASSERT_EQ(run(fake, {"--remove"}), 0);
  EXPECT_EQ(fake.tables, before);
  ASSERT_EQ(run(fake, {"--remove"}), 0);  // nothing left to remove is not an error
  EXPECT_EQ(fake.tables, before);
}

TEST(IptablesCommand, ReinstallWithoutAppPortsDropsTheIngressChain) {
  FakeIptables fake;
  ASSERT_EQ(run(fake, kEcsArgs), 0);
  ASSERT_EQ(run(fake, {"--uid", "1337"}), 0);
  EXPECT_FALSE(fake.tables["iptables"].count("HAWSER_INGRESS"));
  EXPECT_TRUE(fake.tables["iptables"]["PREROUTING"].empty());
  EXPECT_EQ(fake.tables["iptables"]["HAWSER_EGRESS"].size(), 2u);
}

TEST(IptablesCommand, DryRunPrintsTheCommandsAndChangesNothing) {
  FakeIptables fake;
  auto before = fake.tables;
  std::string out;
  auto args = kEcsArgs;
  args.push_back("--dry-run");
  ASSERT_EQ(run(fake, args, &out), 0);
  EXPECT_EQ(fake.tables, before);
  EXPECT_TRUE(fake.log.empty());
  EXPECT_NE(out.find("iptables -t nat -N HAWSER_EGRESS\n"), std::string::npos) << out;
  EXPECT_NE(out.find("iptables -t nat -A OUTPUT -p tcp -m addrtype ! --dst-type LOCAL -j HAWSER_EGRESS\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("ip6tables -t nat -A HAWSER_EGRESS -p tcp -d fd00:ec2::254 -j RETURN\n"), std::string::npos);
  ASSERT_EQ(run(fake, {"--remove", "--dry-run"}, &out), 0);
  EXPECT_NE(out.find("iptables -t nat -D OUTPUT -p tcp -m addrtype ! --dst-type LOCAL -j HAWSER_EGRESS\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("iptables -t nat -X HAWSER_INGRESS\n"), std::string::npos) << out;
}

TEST(IptablesCommand, WithoutIp6tablesOnlyIpv4IsProgrammed) {
  FakeIptables fake;
  fake.ip6_available = false;
  ASSERT_EQ(run(fake, kEcsArgs), 0);
  EXPECT_TRUE(fake.tables["iptables"].count("HAWSER_EGRESS"));
  std::string out;
  auto args = kEcsArgs;
  args.insert(args.end(), {"--ipv6", "on"});
  EXPECT_EQ(run(fake, args, &out), 1);
  EXPECT_NE(out.find("ip6tables: not found"), std::string::npos) << out;
}

TEST(IptablesCommand, ManyPortsAreSplitIntoMultiportGroupsOfFifteen) {
  IptablesOptions o;
  for (int p = 8000; p < 8020; ++p) o.app_ports.push_back(std::to_string(p));
  auto rules = ingressRules(o);
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[1][9], "8015,8016,8017,8018,8019");
}

TEST(IptablesCommand, BadUsage) {
  FakeIptables fake;
  std::string out;
  EXPECT_EQ(run(fake, {"--egress-port", "15001"}, &out), 2);
  EXPECT_NE(out.find("--uid"), std::string::npos);
  EXPECT_EQ(run(fake, {"--uid", "1337", "--app-ports", "80,x"}, &out), 2);
  EXPECT_NE(out.find("\"x\" is not a port"), std::string::npos) << out;
  EXPECT_EQ(run(fake, {"--uid", "1337", "--egress-ignored-ips", "10.0.0.0/33"}, &out), 2);
  EXPECT_EQ(run(fake, {"--uid", "1337", "--ingress-port", "15001"}, &out), 2);
  EXPECT_EQ(run(fake, {"--uid", "1337", "--bogus", "1"}, &out), 2);
  EXPECT_TRUE(fake.log.empty());
}

}  // namespace
}  // namespace hawser::transparent
