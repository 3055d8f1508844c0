#include "dataplane/transparent/iptables_command.h"

#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <cstring>
#include <ostream>

#include "dataplane/transparent/iptables_rules.h"

extern char** environ;

namespace hawser::transparent {
namespace {

constexpr int kOk = 0;
constexpr int kFailed = 1;
constexpr int kUsage = 2;

const char* kHelp =
    "usage: hawser iptables [--ingress-port P] [--egress-port P] --uid UID [--gid GID]\n"
    "                       [--app-ports LIST] [--egress-ignored-ips LIST] [--egress-ignored-ports LIST]\n"
    "                       [--ipv6 auto|on|off] [--remove] [--dry-run]\n"
    "\n"
    "Installs the nat rules of transparent mode, as the ECS agent writes them for a\n"
    "proxyConfiguration of type APPMESH, in chains of hawser's own: HAWSER_INGRESS\n"
    "(jumped to from PREROUTING) redirects TCP to the AppPorts to the ingress port;\n"
    "HAWSER_EGRESS (jumped to from OUTPUT for non-local destinations) redirects every\n"
    "other TCP connection to the egress port, except those of the ignored UID/GID\n"
    "and to the ignored ports and addresses. Running it again replaces hawser's rules;\n"
    "--remove deletes hawser's chains and jumps and nothing else.\n"
    "\n"
    "  --ingress-port P           ProxyIngressPort (default 15000)\n"
    "  --egress-port P            ProxyEgressPort (default 15001)\n"
    "  --uid UID                  IgnoredUID: the sidecar's user (hawser's image runs as 1337)\n"
    "  --gid GID                  IgnoredGID (one of --uid, --gid is required)\n"
    "  --app-ports LIST           AppPorts, e.g. 8080,9090 or 9000:9010 (none: no ingress rules)\n"
    "  --egress-ignored-ips LIST  EgressIgnoredIPs: addresses or CIDRs of either family,\n"
    "                             e.g. 169.254.170.2,169.254.169.254\n"
    "  --egress-ignored-ports LIST  EgressIgnoredPorts, e.g. 22\n"
    "  --ipv6 auto|on|off         also program ip6tables: auto (default) when its nat table works\n"
    "                             (--dry-run with auto prints both)\n"
    "  --remove                   delete hawser's chains and the jumps to them\n"
    "  --dry-run                  print the commands an install (or --remove) on a host\n"
    "                             without hawser's rules runs, and change nothing\n"
    "\n"
    "Needs CAP_NET_ADMIN in the network namespace it changes. Exit codes: 0 done,\n"
    "1 an iptables command failed (its message is printed), 2 bad usage.\n";

class ProcessRunner : public CommandRunner {
 public:
  int run(const std::vector<std::string>& argv, std::string& out, std::string& err) override {
    int out_pipe[2];
    int err_pipe[2];
    if (::pipe(out_pipe) != 0) return 127;
    if (::pipe(err_pipe) != 0) {
      ::close(out_pipe[0]);
      ::close(out_pipe[1]);
      return 127;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
    posix_spawn_file_actions_addclose(&actions, out_pipe[0]);
    posix_spawn_file_actions_addclose(&actions, err_pipe[0]);
    std::vector<char*> cargv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawnp(&pid, cargv[0], &actions, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    if (rc != 0) {
      ::close(out_pipe[0]);
      ::close(err_pipe[0]);
      err = argv[0] + ": " + std::strerror(rc);
      return 127;
    }
    std::array<pollfd, 2> fds{pollfd{out_pipe[0], POLLIN, 0}, pollfd{err_pipe[0], POLLIN, 0}};
    std::array<std::string*, 2> sinks{&out, &err};
    int open = 2;
    while (open > 0) {
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      for (size_t i = 0; i < fds.size(); ++i) {
        if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        char buf[4096];
        const ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
        if (n > 0) {
          sinks[i]->append(buf, static_cast<size_t>(n));
        } else {
          ::close(fds[i].fd);
          fds[i].fd = -1;
          --open;
        }
      }
    }
    for (auto& f : fds) {
      if (f.fd >= 0) ::close(f.fd);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
};

// --dry-run: changes are printed, not run; queries answer as on a host
// without hawser's rules (an install) or with all of them (--remove).
class DryRunRunner : public CommandRunner {
 public:
  DryRunRunner(std::ostream& out, bool installed) : out_(out), installed_(installed) {}
  int run(const std::vector<std::string>& argv, std::string& out, std::string&) override {
    out.clear();
    const auto& verb = argv.size() > 4 ? argv[3] : std::string();
    if (verb == "-S") {
      const auto& chain = argv[4];
      if (chain == kIngressChain || chain == kEgressChain) return installed_ ? 0 : 1;
      if (installed_ && chain == "OUTPUT") out = commandLine("-A OUTPUT", egressJump()) + "\n";
      if (installed_ && chain == "PREROUTING") out = commandLine("-A PREROUTING", ingressJump()) + "\n";
      return 0;
    }
    if (verb == "-C") return installed_ ? 0 : 1;
    out_ << commandLine(argv[0], Rule(argv.begin() + 1, argv.end())) << "\n";
    return 0;
  }

 private:
  std::ostream& out_;
  bool installed_;
};

struct Failure {
  std::string message;
};

class Installer {
 public:
  Installer(CommandRunner& runner, std::string binary) : runner_(runner), binary_(std::move(binary)) {}

  int query(const Rule& r, std::string* output = nullptr) {
    std::string out;
    std::string err;
    const int rc = runner_.run(argv(r), out, err);
    if (rc == 127) throw Failure{err.empty() ? binary_ + ": cannot be run" : err};
    if (output) *output = out;
    return rc;
  }
  void change(const Rule& r) {
    std::string out;
    std::string err;
    const int rc = runner_.run(argv(r), out, err);
    if (rc != 0) {
      while (!err.empty() && err.back() == '\n') err.pop_back();
      throw Failure{commandLine(binary_, r) + " failed (exit " + std::to_string(rc) + "): " + err};
    }
  }

  bool chainExists(const char* chain) { return query({"-t", "nat", "-S", chain}) == 0; }
  // A chain of hawser's own, created empty or emptied.
  void freshChain(const char* chain) { change({"-t", "nat", chainExists(chain) ? "-F" : "-N", chain}); }
  void deleteChain(const char* chain) {
    if (!chainExists(chain)) return;
    change({"-t", "nat", "-F", chain});
    change({"-t", "nat", "-X", chain});
  }
  void ensureJump(const char* parent, const Rule& jump) {
    Rule check{"-t", "nat", "-C", parent};
    check.insert(check.end(), jump.begin(), jump.end());
    if (query(check) == 0) return;
    Rule add{"-t", "nat", "-A", parent};
    add.insert(add.end(), jump.begin(), jump.end());
    change(add);
  }
  // Every rule of `parent` that jumps to `chain`, however it was written.
  void removeJumps(const char* parent, const char* chain) {
    std::string listing;
    if (query({"-t", "nat", "-S", parent}, &listing) != 0) return;
    const std::string prefix = std::string("-A ") + parent + " ";
    const std::string target = std::string("-j ") + chain;
    size_t start = 0;
    while (start < listing.size()) {
      auto end = listing.find('\n', start);
      if (end == std::string::npos) end = listing.size();
      std::string line = listing.substr(start, end - start);
      start = end + 1;
      if (line.rfind(prefix, 0) != 0 || line.size() < target.size() ||
          line.compare(line.size() - target.size(), target.size(), target) != 0) {
        continue;
      }
      Rule del{"-t", "nat", "-D", parent};
      size_t pos = prefix.size();
      while (pos < line.size()) {
        auto space = line.find(' ', pos);
        if (space == std::string::npos) space = line.size();
        if (space > pos) del.push_back(line.substr(pos, space - pos));
        pos = space + 1;
      }
      change(del);
    }
  }

  void install(const IptablesOptions& o, Family f) {
    freshChain(kEgressChain);
    for (const auto& r : egressRules(o, f)) change(r);
    ensureJump("OUTPUT", egressJump());
    if (o.app_ports.empty()) {
      removeJumps("PREROUTING", kIngressChain);
      deleteChain(kIngressChain);
      return;
    }
    freshChain(kIngressChain);
    for (const auto& r : ingressRules(o)) change(r);
    ensureJump("PREROUTING", ingressJump());
  }

  void remove() {
    removeJumps("OUTPUT", kEgressChain);
    removeJumps("PREROUTING", kIngressChain);
    deleteChain(kEgressChain);
    deleteChain(kIngressChain);
  }

 private:
  std::vector<std::string> argv(const Rule& r) const {
    std::vector<std::string> a{binary_};
    a.insert(a.end(), r.begin(), r.end());
    return a;
  }
  CommandRunner& runner_;
  std::string binary_;
};

bool parseNumber(const std::string& s, uint32_t max, uint32_t& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty() && out <= max;
}

int usage(std::ostream& err, const std::string& message) {
  err << "hawser iptables: " << message << "\n\n" << kHelp;
  return kUsage;
}

}  // namespace

int iptablesMain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  ProcessRunner runner;
  return iptablesMain(args, out, err, runner);
}

int iptablesMain(const std::vector<std::string>& raw, std::ostream& out, std::ostream& err, CommandRunner& runner) {
  // --flag=value is the same as --flag value.
  std::vector<std::string> args;
  for (const auto& a : raw) {
    auto eq = a.find('=');
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      args.push_back(a.substr(0, eq));
      args.push_back(a.substr(eq + 1));
    } else {
      args.push_back(a);
    }
  }
  IptablesOptions o;
  bool remove = false;
  bool dry_run = false;
  std::string ipv6 = "auto";
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& flag = args[i];
    if (flag == "--help" || flag == "-h") {
      out << kHelp;
      return kOk;
    }
    if (flag == "--remove") {
      remove = true;
      continue;
    }
    if (flag == "--dry-run") {
      dry_run = true;
      continue;
    }
    if (i + 1 >= args.size()) return usage(err, "unknown or incomplete option '" + flag + "'");
    const auto& value = args[++i];
    std::string problem;
    uint32_t n = 0;
    if (flag == "--ingress-port" || flag == "--egress-port") {
      if (!parseNumber(value, 65535, n) || n == 0) return usage(err, flag + ": \"" + value + "\" is not a port");
      (flag == "--ingress-port" ? o.ingress_port : o.egress_port) = static_cast<uint16_t>(n);
    } else if (flag == "--uid" || flag == "--gid") {
      if (!parseNumber(value, UINT32_MAX - 1, n)) return usage(err, flag + ": \"" + value + "\" is not a number");
      (flag == "--uid" ? o.uid : o.gid) = n;
    } else if (flag == "--app-ports") {
      problem = parsePortList(value, o.app_ports);
    } else if (flag == "--egress-ignored-ports") {
      problem = parsePortList(value, o.ignored_ports);
    } else if (flag == "--egress-ignored-ips") {
      problem = parseAddressList(value, o.ignored_ips);
    } else if (flag == "--ipv6") {
      if (value != "auto" && value != "on" && value != "off") return usage(err, "--ipv6: expected auto, on or off");
      ipv6 = value;
    } else {
      return usage(err, "unknown option '" + flag + "'");
    }
    if (!problem.empty()) return usage(err, flag + ": " + problem);
  }
  if (!remove && !o.uid && !o.gid) {
    return usage(err, "--uid (or --gid) is required: without it the sidecar's own connections loop back into it");
  }
  if (o.ingress_port == o.egress_port) return usage(err, "--ingress-port and --egress-port must differ");

  DryRunRunner printer(out, remove);
  CommandRunner& run = dry_run ? static_cast<CommandRunner&>(printer) : runner;
  try {
    std::vector<std::pair<std::string, Family>> families{{"iptables", Family::ipv4}};
    if (ipv6 == "on") {
      families.emplace_back("ip6tables", Family::ipv6);
    } else if (ipv6 == "auto") {
      std::string ignored_out;
      std::string ignored_err;
      // A host without IPv6 (or without ip6tables' nat table) gets IPv4 rules only.
      if (run.run({"ip6tables", "-t", "nat", "-S", "OUTPUT"}, ignored_out, ignored_err) == 0) {
        families.emplace_back("ip6tables", Family::ipv6);
      }
    }
    for (const auto& [binary, family] : families) {
      Installer installer(run, binary);
      if (remove) {
        installer.remove();
      } else {
        installer.install(o, family);
      }
    }
  } catch (const Failure& f) {
    err << "hawser iptables: " << f.message << "\n";
    return kFailed;
  }
  if (!dry_run) {
    out << (remove ? "removed hawser's nat rules\n" : "installed hawser's nat rules\n");
  }
  return kOk;
}

}  // namespace hawser::transparent
