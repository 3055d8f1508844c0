#include "dataplane/transparent/transparent_routes.h"

namespace hawser::transparent {

const char* reason(Refusal r) {
  switch (r) {
    case Refusal::no_original_destination: return "no-original-destination";
    case Refusal::loop: return "transparent-loop";
    case Refusal::no_inbound_for_port: return "no-inbound-for-port";
    default: return "egress-denied";
  }
}

}  // namespace hawser::transparent
