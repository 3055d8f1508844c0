// The immutable runtime view of one configuration: listeners, clusters and
// their metric series, resolved once. Workers hold a shared_ptr to it; a
// request copies the pointer once and keeps its snapshot to the end.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "dataplane/cluster.h"
#include "dataplane/config/config.h"

namespace hawser::telemetry {
class Metrics;
struct RequestStats;
}  // namespace hawser::telemetry

namespace hawser::transparent {
struct TransparentRoutes;
}

namespace hawser {

struct ListenerSpec {
  enum class Kind { inbound, outbound, http_proxy, transparent_inbound, transparent_outbound };
  std::string name;
  Kind kind = Kind::inbound;
  config::Address address;  // as configured (port may be 0)
  config::Protocol protocol = config::Protocol::http;
  std::shared_ptr<Cluster> cluster;  // inbound: the local app; outbound: the service; null for http_proxy
  config::Timeouts timeouts;         // downstream side
  config::InboundTlsMode tls_mode = config::InboundTlsMode::disabled;  // inbound only
  std::vector<std::string> allow;                                      // inbound authorization.allow
  std::shared_ptr<RateLimiter> rate_limiter;                           // inbound rate_limit
  std::shared_ptr<const transparent::TransparentRoutes> transparent;   // transparent_* kinds only
  // What identifies "the same listener" across reloads.
  std::string key() const;
};

const char* name(ListenerSpec::Kind k);

struct Snapshot {
  std::shared_ptr<const config::Config> config;
  std::vector<ListenerSpec> listeners;
  // Reached only through a transparent listener, never bound: transparent
  // inbound entries, and one outbound spec per service for transparent egress.
  std::vector<ListenerSpec> routed;
  std::unordered_map<std::string, std::shared_ptr<Cluster>> services;  // outbound, by name
  std::vector<std::shared_ptr<Cluster>> clusters;                      // every cluster, for /clusters
  std::shared_ptr<Cluster> passthrough;                                // http_proxy destinations that are not services
  std::unordered_map<std::string, std::string> file_sources;           // cluster name -> file path

  const ListenerSpec* findListener(const std::string& key) const;
  std::shared_ptr<Cluster> service(std::string_view name) const;
};

// Builds a snapshot. Clusters whose configuration did not change are carried
// over from `previous` with their endpoints and state. Throws ConfigError.
std::shared_ptr<const Snapshot> compileSnapshot(std::shared_ptr<const config::Config> cfg, const Snapshot* previous,
                                                telemetry::Metrics& metrics);

}  // namespace hawser
