#include "policy/healthy_hosts.h"

namespace hawser::policy {

namespace {

bool usable(const HostView& host) {
  return host.healthy && !host.ejected;
}

}  // namespace

std::string_view hostSelectionName(HostSelection selection) {
  switch (selection) {
    case HostSelection::no_hosts: return "no_hosts";
    case HostSelection::all_usable: return "all_usable";
    case HostSelection::local_zone: return "local_zone";
    case HostSelection::zone_spill: return "zone_spill";
    case HostSelection::panic: return "panic";
  }
  return "unknown";
}

HostSelection healthyHosts(std::span<const HostView> hosts, const HostSelectionPolicy& policy,
                           std::vector<std::size_t>& candidates) {
  candidates.clear();
  if (hosts.empty()) return HostSelection::no_hosts;

  std::uint64_t usable_count = 0;
  std::uint64_t local_count = 0;
  std::uint64_t local_usable = 0;
  const bool zone_aware = !policy.local_zone.empty();
  for (const HostView& host : hosts) {
    const bool ok = usable(host);
    usable_count += ok;
    if (zone_aware && host.zone == policy.local_zone) {
      ++local_count;
      local_usable += ok;
    }
  }

  if (usable_count == 0 || usable_count * 100 < std::uint64_t{policy.panic_threshold_percent} * hosts.size()) {
    for (std::size_t i = 0; i < hosts.size(); ++i) candidates.push_back(i);
    return HostSelection::panic;
  }

  if (local_count > 0) {
    const bool stay_local =
        local_usable > 0 && local_usable * 100 >= std::uint64_t{policy.zone_spill_percent} * local_count;
    for (std::size_t i = 0; i < hosts.size(); ++i) {
      if (usable(hosts[i]) && (!stay_local || hosts[i].zone == policy.local_zone)) {
        candidates.push_back(i);
      }
    }
    return stay_local ? HostSelection::local_zone : HostSelection::zone_spill;
  }

  for (std::size_t i = 0; i < hosts.size(); ++i) {
    if (usable(hosts[i])) candidates.push_back(i);
  }
  return HostSelection::all_usable;
}

}  // namespace hawser::policy
