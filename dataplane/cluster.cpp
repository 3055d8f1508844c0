#include "dataplane/cluster.h"

#include <algorithm>

namespace hawser {

namespace {

policy::LoadBalancerKind kindOf(config::LoadBalancer lb) {
  switch (lb) {
    case config::LoadBalancer::least_request: return policy::LoadBalancerKind::least_request;
    case config::LoadBalancer::random: return policy::LoadBalancerKind::random;
    default: return policy::LoadBalancerKind::round_robin;
  }
}

bool matches(const std::map<std::string, std::string>& selector, const std::map<std::string, std::string>& attrs) {
  for (const auto& [k, v] : selector) {
    auto it = attrs.find(k);
    if (it == attrs.end() || it->second != v) return false;
  }
  return true;
}

}  // namespace

Cluster::Cluster(std::string name, config::Timeouts timeouts, config::LoadBalancer lb, config::Protocol protocol,
                 unsigned workers, policy::HostSelectionPolicy hosts)
    : name_(std::move(name)),
      timeouts_(timeouts),
      lb_(lb),
      protocol_(protocol),
      hosts_(std::move(hosts)),
      slots_(workers),
      latest_(std::make_shared<discovery::EndpointSet>()) {
  for (auto& s : slots_) {
    s.endpoints = latest_;
    s.balancers.push_back(policy::makeLoadBalancer(kindOf(lb_)));
  }
}

void Cluster::setRoutes(std::vector<ClusterRoute> routes) {
  routes_ = std::move(routes);
  subsets_.clear();
  for (auto& r : routes_) {
    r.subset_ids.clear();
    if (!r.split) continue;
    for (const auto& sub : r.split->subsets()) {
      std::map<std::string, std::string> selector(sub.selector.begin(), sub.selector.end());
      auto it = std::find(subsets_.begin(), subsets_.end(), selector);
      r.subset_ids.push_back(static_cast<size_t>(it - subsets_.begin()));
      if (it == subsets_.end()) subsets_.push_back(std::move(selector));
    }
  }
  for (auto& s : slots_) {
    s.balancers.clear();
    for (size_t i = 0; i <= subsets_.size(); ++i) s.balancers.push_back(policy::makeLoadBalancer(kindOf(lb_)));
    s.members.assign(subsets_.size(), {});
  }
}

std::optional<size_t> Cluster::chooseSubset(unsigned worker, const ClusterRoute& route, std::string_view pin) {
  if (!route.split) return std::nullopt;
  auto& slot = slots_[worker];
  if (auto pinned = route.split->find(pin)) return route.subset_ids[*pinned];
  // By weight among the subsets that have endpoints, so a canary scaled to
  // zero does not fail its share of requests; when none has any, by weight.
  const auto& subsets = route.split->subsets();
  uint64_t total = 0;
  for (size_t j = 0; j < subsets.size(); ++j) {
    if (!slot.members[route.subset_ids[j]].empty()) total += subsets[j].weight;
  }
  if (total == 0) {
    auto j = route.split->pick(slot.rng);
    return j ? std::optional<size_t>(route.subset_ids[*j]) : std::nullopt;
  }
  uint64_t point = policy::uniformBelow(slot.rng, total);
  for (size_t j = 0; j < subsets.size(); ++j) {
    if (slot.members[route.subset_ids[j]].empty()) continue;
    if (point < subsets[j].weight) return route.subset_ids[j];
    point -= subsets[j].weight;
  }
  return route.subset_ids.back();  // not reached
}

void OutlierTracker::setEndpoints(const discovery::EndpointSet& set) {
  std::lock_guard lock(mutex_);
  std::vector<size_t> new_to_old(set.size(), policy::OutlierDetector::kNewEndpoint);
  for (size_t j = 0; j < set.size(); ++j) {
    for (size_t i = 0; i < endpoints_.size(); ++i) {
      if (endpoints_[i]->key == set[j]->key) new_to_old[j] = i;
    }
  }
  detector_.remap(new_to_old);
  endpoints_.assign(set.begin(), set.end());
  for (size_t j = 0; j < endpoints_.size(); ++j) {
    endpoints_[j]->ejected.store(detector_.isEjected(j), std::memory_order_relaxed);
  }
}

std::optional<policy::EjectionEvent> OutlierTracker::record(discovery::Endpoint& e,
                                                            const policy::UpstreamOutcome& outcome,
                                                            policy::TimePoint now) {
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    if (endpoints_[i].get() != &e) continue;
    auto event = detector_.record(i, outcome, now);
    if (event) e.ejected.store(true, std::memory_order_relaxed);
    return event;
  }
  return std::nullopt;  // not in the newest set any more
}

void OutlierTracker::evaluate(policy::TimePoint now) {
  std::lock_guard lock(mutex_);
  for (size_t i : detector_.evaluate(now)) endpoints_[i]->ejected.store(false, std::memory_order_relaxed);
}

discovery::EndpointPtr Cluster::pick(unsigned worker, const discovery::Endpoint* avoid, std::optional<size_t> subset) {
  auto& slot = slots_[worker];
  const auto& full = *slot.endpoints;
  slot.views.clear();
  slot.index.clear();
  auto add = [&](size_t i) {
    const auto& e = *full[i];
    slot.index.push_back(i);
    slot.views.push_back(
        {e.weight, static_cast<uint32_t>(std::max(0, e.active_requests.load(std::memory_order_relaxed))),
         !e.unhealthy.load(std::memory_order_relaxed), e.ejected.load(std::memory_order_relaxed), e.zone});
  };
  if (subset) {
    for (size_t i : slot.members[*subset]) add(i);
  } else {
    for (size_t i = 0; i < full.size(); ++i) add(i);
  }
  if (slot.views.empty()) return nullptr;
  // Unhealthy and ejected endpoints leave the candidates; the local zone is
  // preferred; too few usable endpoints means panic: all of them are candidates.
  policy::healthyHosts(slot.views, hosts_, slot.candidates);
  if (avoid && slot.candidates.size() > 1) {
    for (auto it = slot.candidates.begin(); it != slot.candidates.end(); ++it) {
      if (full[slot.index[*it]].get() == avoid) {
        slot.candidates.erase(it);
        break;
      }
    }
  }
  auto& balancer = *slot.balancers[subset ? *subset : slot.balancers.size() - 1];
  auto picked = balancer.pick(slot.views, slot.candidates, slot.rng);
  return picked ? full[slot.index[*picked]] : nullptr;
}

void Cluster::install(unsigned worker, std::shared_ptr<const discovery::EndpointSet> set) {
  auto& slot = slots_[worker];
  slot.endpoints = std::move(set);
  const auto& full = *slot.endpoints;
  for (size_t k = 0; k < subsets_.size(); ++k) {
    auto& m = slot.members[k];
    m.clear();
    for (size_t i = 0; i < full.size(); ++i) {
      if (matches(subsets_[k], full[i]->attributes)) m.push_back(i);
    }
  }
}

std::shared_ptr<const discovery::EndpointSet> Cluster::latest() const {
  std::lock_guard lock(latest_mutex_);
  return latest_;
}

void Cluster::setLatest(std::shared_ptr<const discovery::EndpointSet> set) {
  if (outlier) outlier->setEndpoints(*set);
  std::lock_guard lock(latest_mutex_);
  latest_ = std::move(set);
}

}  // namespace hawser
