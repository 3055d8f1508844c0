// Which hosts a load balancer may pick from, before it weighs them.
//
// 1. Usable hosts are healthy and not ejected.
// 2. Panic: when no host is usable, or usable * 100 < panic_threshold_percent
//    * hosts (default 50, as in Envoy), every host is a candidate, usable or
//    not: spreading load over all of them beats piling it on the few left (or
//    failing outright when none are). Zones are ignored in panic.
// 3. Zone awareness, when local_zone is set and some host is in it: while the
//    local zone's usable fraction is at least zone_spill_percent (default 70,
//    about Envoy's 1.4 overprovisioning factor), only its usable hosts are
//    candidates; below that, all usable hosts in every zone are (all or
//    nothing, not Envoy's proportional spill: simpler to reason about with
//    the handful of tasks per zone a sidecar cluster has).
// 4. Otherwise all usable hosts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policy/load_balancer.h"

namespace hawser::policy {

struct HostSelectionPolicy {
  std::uint32_t panic_threshold_percent = 50;
  std::string local_zone;  // empty: no zone awareness
  std::uint32_t zone_spill_percent = 70;
};

enum class HostSelection : std::uint8_t {
  no_hosts,    // the host set is empty
  all_usable,  // every usable host
  local_zone,  // usable hosts of the local zone only
  zone_spill,  // local zone short of usable hosts: usable hosts of every zone
  panic,       // too few usable hosts: every host
};

std::string_view hostSelectionName(HostSelection selection);

// Writes candidate indices into `candidates` (cleared first; reuse one vector
// per worker so the request path does not allocate) and says how they were
// chosen, so degraded modes (zone_spill, panic) can be logged and counted.
HostSelection healthyHosts(std::span<const HostView> hosts, const HostSelectionPolicy& policy,
                           std::vector<std::size_t>& candidates);

}  // namespace hawser::policy
