#include "policy/load_balancer.h"

#include "policy/least_request.h"
#include "policy/random_lb.h"
#include "policy/round_robin.h"

namespace hawser::policy {

std::unique_ptr<LoadBalancer> makeLoadBalancer(LoadBalancerKind kind) {
  switch (kind) {
    case LoadBalancerKind::round_robin: return std::make_unique<RoundRobin>();
    case LoadBalancerKind::least_request: return std::make_unique<LeastRequest>();
    case LoadBalancerKind::random: return std::make_unique<RandomLb>();
  }
  return std::make_unique<RoundRobin>();
}

}  // namespace hawser::policy
