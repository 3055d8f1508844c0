#include "dataplane/cluster.h"

namespace hawser {

Cluster::Cluster(std::string name, config::Timeouts timeouts, config::LoadBalancer lb, config::Protocol protocol,
                 unsigned workers)
    : name_(std::move(name)),
      timeouts_(timeouts),
      lb_(lb),
      protocol_(protocol),
      slots_(workers),
      latest_(std::make_shared<discovery::EndpointSet>()) {
  for (auto& s : slots_) s.endpoints = latest_;
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

discovery::EndpointPtr Cluster::pick(unsigned worker, const discovery::Endpoint* avoid) {
  auto& slot = slots_[worker];
  const auto& full = *slot.endpoints;
  if (full.empty()) return nullptr;
  // Ejected endpoints leave the set; when every endpoint is ejected, panic
  // mode spreads traffic over all of them rather than failing everything.
  const discovery::EndpointSet* usable = &full;
  if (outlier) {
    slot.usable.clear();
    for (const auto& e : full) {
      if (!e->ejected.load(std::memory_order_relaxed)) slot.usable.push_back(e);
    }
    if (!slot.usable.empty()) usable = &slot.usable;
  }
  const auto& set = *usable;
  size_t n = set.size();
  if (n == 1) return set[0];
  size_t i = 0;
  switch (lb_) {
    case config::LoadBalancer::round_robin: i = slot.cursor++ % n; break;
    case config::LoadBalancer::random: i = slot.rng() % n; break;
    case config::LoadBalancer::least_request: {
      // Power of two choices over active requests.
      size_t a = slot.rng() % n, b = slot.rng() % (n - 1);
      if (b >= a) ++b;
      i = set[a]->active_requests.load(std::memory_order_relaxed) <=
                  set[b]->active_requests.load(std::memory_order_relaxed)
              ? a
              : b;
      break;
    }
  }
  if (set[i].get() == avoid) i = (i + 1) % n;
  return set[i];
}

void Cluster::install(unsigned worker, std::shared_ptr<const discovery::EndpointSet> set) {
  slots_[worker].endpoints = std::move(set);
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
