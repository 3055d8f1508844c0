// `hawser registry`: the Cloud Map-compatible development registry served
// over HTTP/1.1 (Boost.Beast, one thread). The request handling itself is
// RegistryApi (pure); this file only moves bytes and persists state.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "discovery/registry/registry_api.h"

namespace hawser::discovery::registry {

struct RegistryServerOptions {
  std::string listen = "127.0.0.1:0";  // "host:port"; ":PORT" binds 127.0.0.1
  std::string data_file;               // empty: in memory only
  bool log_requests = false;           // one JSON line per request on stdout
  RegistryOptions api;
};

class RegistryServer {
 public:
  // Loads `data_file` (throws std::runtime_error naming it when unusable).
  RegistryServer(boost::asio::any_io_executor executor, RegistryServerOptions options);
  ~RegistryServer();
  RegistryServer(const RegistryServer&) = delete;
  RegistryServer& operator=(const RegistryServer&) = delete;

  // Binds and starts accepting; returns the bound "host:port". Throws
  // std::system_error when the address cannot be bound.
  std::string start();
  // Closes the acceptor and every open connection.
  void stop();

  const RegistryApi& api() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// The `hawser registry` subcommand: parses `args` (after the command name),
// runs until SIGINT/SIGTERM, returns the exit code (0, 1 runtime, 2 usage).
int registryMain(const std::vector<std::string>& args);

}  // namespace hawser::discovery::registry
