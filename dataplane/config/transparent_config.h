// The config keys of transparent interception (docs/configuration.md,
// "Transparent interception"): outbound.transparent, inbound[].transparent and
// the services' virtual_ips / destination_ports.
#pragma once

#include <optional>
#include <vector>

#include "dataplane/config/config.h"
#include "dataplane/config/field.h"

namespace hawser::config {

// outbound.transparent (absent: no transparent egress listener).
std::optional<TransparentOutbound> readTransparentOutbound(const Field& f);

// outbound.services[].virtual_ips and destination_ports.
void readTransparentMatch(const Field& service, Service& svc);

// What needs the whole file: matches without outbound.transparent, two
// services claiming one address or port, transparent inbound entries on
// different listen addresses or for the same app port. `inbound` and
// `services` are the list fields, in the order of c.inbound / c.outbound.services.
void checkTransparent(const Config& c, const Field& inbound, const Field& services, const Field& outbound);

}  // namespace hawser::config
