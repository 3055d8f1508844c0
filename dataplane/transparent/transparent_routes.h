// What a transparent listener needs to route a redirected connection,
// compiled once per snapshot (dataplane/snapshot.cpp) and held by its ListenerSpec.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dataplane/config/config.h"
#include "dataplane/transparent/egress_route.h"

namespace hawser {
class Cluster;
}

namespace hawser::transparent {

struct TransparentRoutes {
  // Ingress: original destination port -> key of the inbound entry's ListenerSpec (Snapshot::routed).
  std::vector<std::pair<uint16_t, std::string>> ingress;

  // Egress: services by index (EgressTable), each with the key of its routed
  // ListenerSpec and its cluster (whose live endpoints are matched too).
  EgressTable table;
  std::vector<std::string> service_keys;
  std::vector<std::shared_ptr<Cluster>> service_clusters;
  config::EgressFilter filter = config::EgressFilter::allow_all;
  config::Duration protocol_detection_timeout{100};
  config::Timeouts passthrough_timeouts;

  // Ports of hawser's own transparent listeners: a connection whose original
  // destination is one of them on a local address would come back to hawser.
  std::vector<uint16_t> own_ports;
};

}  // namespace hawser::transparent
