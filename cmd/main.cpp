// hawser: the sidecar proxy's single binary and its subcommands.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "dataplane/config/appmesh/import_command.h"
#include "dataplane/config/config.h"
#include "dataplane/forwarder/capture_command.h"
#include "dataplane/forwarder/forwarder.h"
#include "dataplane/server.h"
#include "dataplane/tls/certs_command.h"
#include "dataplane/transparent/iptables_command.h"
#include "discovery/registry/registry_server.h"
#include "telemetry/log.h"

namespace {

constexpr int kOk = 0;
constexpr int kRuntimeFailure = 1;
constexpr int kUsage = 2;

const char* kUsageText =
    "usage: hawser <command> [options]\n"
    "\n"
    "commands:\n"
    "  proxy         run the sidecar proxy (the default)\n"
    "  check-config  validate a configuration file and exit\n"
    "  certs         create a development CA, workload certificates and CRLs\n"
    "  forwarder     run the cluster's capture forwarder\n"
    "  capture       export captured traffic (capture export --from DIR --format har|ndjson)\n"
    "  registry      run a local Cloud Map-compatible registry (development tool)\n"
    "  import        write a configuration from App Mesh descriptions (import appmesh --virtual-node NAME FILE...)\n"
    "  iptables      install or remove the transparent-mode nat rules (an init container's job)\n"
    "\n"
    "Run 'hawser <command> --help' for the options of a command.\n"
    "Exit codes: 0 ok, 1 runtime failure, 2 bad usage or configuration.\n";

const char* kProxyHelp =
    "usage: hawser proxy [--config FILE] [--admin-address-path FILE]\n"
    "\n"
    "  --config FILE               the YAML configuration (else $HAWSER_CONFIG names a file,\n"
    "                              else $HAWSER_CONFIG_YAML holds the whole document)\n"
    "  --admin-address-path FILE   write the bound admin address (host:port) to FILE\n"
    "\n"
    "Signals: SIGTERM/SIGINT drain then exit 0; SIGHUP reloads the configuration.\n";

const char* kCheckHelp =
    "usage: hawser check-config [FILE]\n"
    "\n"
    "Validates FILE (or $HAWSER_CONFIG / $HAWSER_CONFIG_YAML) and prints \"ok\";\n"
    "on an error prints file:line: key: problem and exits 2.\n";

bool wantsHelp(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") return true;
  }
  return false;
}

int usageError(const std::string& message, const char* help) {
  std::cerr << "hawser: " << message << "\n\n" << help;
  return kUsage;
}

int checkConfig(const std::vector<std::string>& args) {
  if (wantsHelp(args)) {
    std::cout << kCheckHelp;
    return kOk;
  }
  if (args.size() > 1) return usageError("check-config takes one file", kCheckHelp);
  try {
    auto cfg = hawser::config::loadFromEnvironmentOr(args.empty() ? "" : args[0]);
    std::cout << "ok\n";
    return kOk;
  } catch (const hawser::config::ConfigError& e) {
    std::cerr << "hawser: config error: " << e.what() << "\n";
    return kUsage;
  }
}

int proxy(const std::vector<std::string>& args) {
  if (wantsHelp(args)) {
    std::cout << kProxyHelp;
    return kOk;
  }
  hawser::ServerOptions options;
  for (size_t i = 0; i < args.size(); ++i) {
    auto value = [&](const char* flag) -> const std::string* {
      if (args[i] != flag) return nullptr;
      if (i + 1 >= args.size()) return nullptr;
      return &args[++i];
    };
    if (auto v = value("--config"))
      options.config_path = *v;
    else if (auto v2 = value("--admin-address-path"))
      options.admin_address_path = *v2;
    else
      return usageError("unknown or incomplete option '" + args[i] + "'", kProxyHelp);
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 1 << 16);
  try {
    auto cfg = hawser::config::loadFromEnvironmentOr(options.config_path);
    hawser::Server server(std::move(cfg), options);
    return server.run();
  } catch (const hawser::config::ConfigError& e) {
    std::cerr << "hawser: config error: " << e.what() << "\n";
    return kUsage;
  } catch (const std::exception& e) {
    std::cerr << "hawser: " << e.what() << "\n";
    return kRuntimeFailure;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h" || args[0] == "help")) {
    std::cout << kUsageText;
    return kOk;
  }
  if (!args.empty() && (args[0] == "--version" || args[0] == "version")) {
    std::cout << "hawser " << HAWSER_VERSION << "\n";
    return kOk;
  }
  if (const char* level = std::getenv("LOG_LEVEL"); level && *level) {
    hawser::log::Level l;
    if (!hawser::log::parseLevel(level, l)) {
      std::cerr << "hawser: environment LOG_LEVEL: expected debug, info, warn or error, got \"" << level << "\"\n";
      return kUsage;
    }
    hawser::log::setMinimumLevel(l);
  }
  std::string command = "proxy";
  if (!args.empty() && args[0].rfind("-", 0) != 0) {
    command = args[0];
    args.erase(args.begin());
  }
  if (command == "proxy") return proxy(args);
  if (command == "check-config") return checkConfig(args);
  if (command == "certs") return hawser::tls::runCertsCommand(args, std::cout, std::cerr);
  if (command == "capture") return hawser::forwarder::captureMain(args);
  if (command == "forwarder") return hawser::forwarder::forwarderMain(args);
  if (command == "registry") return hawser::discovery::registry::registryMain(args);
  if (command == "import") return hawser::config::appmesh::importMain(args, std::cout, std::cerr);
  if (command == "iptables") return hawser::transparent::iptablesMain(args, std::cout, std::cerr);
  std::cerr << "hawser: unknown command '" << command << "'\n\n" << kUsageText;
  return kUsage;
}
