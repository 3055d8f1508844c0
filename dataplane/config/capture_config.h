// The capture section of the loader (capture_config.cpp).
#pragma once

#include <optional>

#include "dataplane/config/config.h"

namespace hawser::config {

class Field;

// `capture` (possibly absent); nullopt unless capture.enabled is true.
// `node` and `tls` are the rest of the document (the default forwarder
// identity and whether mutual TLS is the default).
std::optional<Capture> readCapture(const Field& capture, const Node& node, bool node_has_tls);

}  // namespace hawser::config
