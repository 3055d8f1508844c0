// What a transparent listener needs to route a redirected connection,
// compiled once per snapshot (dataplane/snapshot.cpp) and held by its ListenerSpec.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/config/config.h"
#include "dataplane/transparent/egress_route.h"

namespace hawser {
class Cluster;
}
namespace prometheus {
class Counter;
}

namespace hawser::transparent {

// Why a transparent listener closed a connection unserved: the reason of its
// access log line and of hawser_local_replies_total{reason}.
enum class Refusal { no_original_destination, loop, no_inbound_for_port, egress_denied };
inline constexpr size_t kRefusalCount = 4;
const char* reason(Refusal r);

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

  // hawser_local_replies_total{reason} of each Refusal, per worker, resolved with the snapshot.
  std::vector<std::array<prometheus::Counter*, kRefusalCount>> refusals;
};

}  // namespace hawser::transparent
