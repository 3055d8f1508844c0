// `hawser iptables`: installs or removes the transparent-mode nat rules
// (iptables_rules.h) by running the iptables and ip6tables binaries, as an
// init container does (linkerd-init, istio-init) where no ECS agent programs them.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace hawser::transparent {

// Runs one command; returns its exit status (127: could not be run) and its output.
class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  virtual int run(const std::vector<std::string>& argv, std::string& out, std::string& err) = 0;
};

// Exit codes: 0 done, 1 an iptables command failed, 2 bad usage.
int iptablesMain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
// The same with the commands run by `runner` (tests).
int iptablesMain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, CommandRunner& runner);

}  // namespace hawser::transparent
