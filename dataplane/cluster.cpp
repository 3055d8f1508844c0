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

discovery::EndpointPtr Cluster::pick(unsigned worker, const discovery::Endpoint* avoid) {
  auto& slot = slots_[worker];
  const auto& set = *slot.endpoints;
  size_t n = set.size();
  if (n == 0) return nullptr;
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
  std::lock_guard lock(latest_mutex_);
  latest_ = std::move(set);
}

}  // namespace hawser
