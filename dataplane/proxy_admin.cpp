// The proxy's admin endpoints (docs/admin.md), served by AdminServer.
#include <boost/json.hpp>

#include "dataplane/admin_server.h"
#include "dataplane/server.h"

namespace hawser {

std::optional<AdminResponse> Server::serveAdmin(std::string_view method, std::string_view path) {
  const bool get = method == "GET" || method == "HEAD";
  const bool post = method == "POST";
  auto text = [](unsigned status, std::string body) { return AdminResponse{status, "text/plain", std::move(body)}; };
  if (path == "/ready") {
    if (!get) return adminMethodNotAllowed();
    if (ready()) return text(200, "ready\n");
    return text(503, state() == State::draining ? "draining\n" : "not ready\n");
  }
  if (path == "/server_info") {
    if (!get) return adminMethodNotAllowed();
    const char* s = state() == State::live ? "LIVE" : state() == State::draining ? "DRAINING" : "PRE_INITIALIZING";
    boost::json::object o;
    o["state"] = s;
    o["version"] = HAWSER_VERSION;
    o["uptime_seconds"] = uptimeSeconds();
    o["registration"] = registrationState();
    return adminJson(boost::json::serialize(o) + "\n");
  }
  if (path == metricsPath()) {
    if (!get) return adminMethodNotAllowed();
    if (!metricsEnabled()) return text(404, "metrics are disabled (telemetry.metrics.enabled: false)\n");
    return AdminResponse{200, "text/plain; version=0.0.4; charset=utf-8", metricsText()};
  }
  if (path == "/config_dump" || path == "/clusters" || path == "/certs" || path == "/listeners") {
    if (!get) return adminMethodNotAllowed();
    return adminJson(path == "/config_dump" ? configDumpJson()
                     : path == "/clusters"  ? clustersJson()
                     : path == "/certs"     ? certsJson()
                                            : listenersJson());
  }
  if (path == "/drain") {
    if (!post) return adminMethodNotAllowed();
    drain();
    return adminJson("{\"state\":\"DRAINING\"}\n");
  }
  if (path == "/reload") {
    if (!post) return adminMethodNotAllowed();
    auto error = reload();
    boost::json::object o;
    o["result"] = error.empty() ? "success" : "failure";
    if (!error.empty()) o["error"] = error;
    return adminJson(boost::json::serialize(o) + "\n", error.empty() ? 200 : 400);
  }
  return std::nullopt;
}

std::string Server::adminEndpoints() const {
  return "/ready /server_info /metrics /config_dump /clusters /listeners /certs POST /drain POST /reload";
}

std::string_view Server::adminHost() const {
  return config().admin.host;
}

std::span<const std::string> Server::adminAllowedHosts() const {
  return config().admin_allowed_hosts;
}

}  // namespace hawser
