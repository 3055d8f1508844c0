#include "policy/circuit_breaker.h"

namespace hawser::policy {

std::string_view thresholdName(Threshold threshold) {
  switch (threshold) {
    case Threshold::max_connections: return "max_connections";
    case Threshold::max_pending: return "max_pending";
    case Threshold::max_requests: return "max_requests";
    case Threshold::max_retries: return "max_retries";
  }
  return "unknown";
}

CircuitBreaker::CircuitBreaker(CircuitBreakerThresholds thresholds)
    : limits_{thresholds.max_connections, thresholds.max_pending, thresholds.max_requests, thresholds.max_retries} {}

std::uint32_t CircuitBreaker::limit(Threshold threshold) const {
  return limits_[index(threshold)];
}

bool CircuitBreaker::canAcquire(Threshold threshold) const {
  return active_[index(threshold)] < limits_[index(threshold)];
}

bool CircuitBreaker::tryAcquire(Threshold threshold) {
  if (!canAcquire(threshold)) {
    ++overflows_[index(threshold)];
    return false;
  }
  ++active_[index(threshold)];
  return true;
}

void CircuitBreaker::release(Threshold threshold) {
  auto& count = active_[index(threshold)];
  if (count > 0) --count;
}

std::optional<Threshold> CircuitBreaker::admitRequest(bool needs_pending_slot) {
  if (!tryAcquire(Threshold::max_requests)) return Threshold::max_requests;
  if (needs_pending_slot && !tryAcquire(Threshold::max_pending)) {
    release(Threshold::max_requests);
    return Threshold::max_pending;
  }
  return std::nullopt;
}

}  // namespace hawser::policy
