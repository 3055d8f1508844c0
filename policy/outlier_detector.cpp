#include "policy/outlier_detector.h"

#include <algorithm>
#include <utility>

namespace hawser::policy {

std::string_view ejectionReasonName(EjectionReason reason) {
  switch (reason) {
    case EjectionReason::consecutive_5xx: return "consecutive_5xx";
    case EjectionReason::consecutive_gateway_errors: return "consecutive_gateway_errors";
  }
  return "unknown";
}

OutlierDetector::OutlierDetector(OutlierDetectionPolicy policy, std::size_t endpoints)
    : policy_(policy), endpoints_(endpoints) {}

void OutlierDetector::remap(std::span<const std::size_t> new_to_old) {
  std::vector<Endpoint> next(new_to_old.size());
  for (std::size_t j = 0; j < new_to_old.size(); ++j) {
    if (new_to_old[j] < endpoints_.size()) next[j] = endpoints_[new_to_old[j]];
  }
  endpoints_ = std::move(next);
  recountEjected();
}

void OutlierDetector::resize(std::size_t endpoints) {
  endpoints_.resize(endpoints);
  recountEjected();
}

void OutlierDetector::recountEjected() {
  ejected_count_ = static_cast<std::size_t>(
      std::count_if(endpoints_.begin(), endpoints_.end(), [](const Endpoint& e) { return e.ejected; }));
}

Duration OutlierDetector::ejectionDuration(std::uint32_t times) const {
  const Duration base = std::max(policy_.base_ejection, Duration{0});
  const Duration cap = std::max(policy_.max_ejection, base);
  if (times == 0 || base == Duration{0}) return Duration{0};
  if (base.count() > cap.count() / times) return cap;  // base * times would pass the cap
  return base * times;
}

bool OutlierDetector::ejectionAllowed() const {
  if (policy_.max_ejection_percent == 0) return false;
  if (ejected_count_ == 0) return true;
  return (static_cast<std::uint64_t>(ejected_count_) + 1) * 100 <=
         static_cast<std::uint64_t>(policy_.max_ejection_percent) * endpoints_.size();
}

std::optional<EjectionEvent> OutlierDetector::record(std::size_t index, const UpstreamOutcome& outcome, TimePoint now) {
  if (index >= endpoints_.size()) return std::nullopt;
  Endpoint& e = endpoints_[index];
  if (e.ejected) return std::nullopt;

  if (!outcome.is5xx()) {
    e.consecutive_5xx = 0;
    e.consecutive_gateway = 0;
    return std::nullopt;
  }
  ++e.consecutive_5xx;
  if (outcome.isGatewayError()) {
    ++e.consecutive_gateway;
  } else {
    e.consecutive_gateway = 0;
  }

  if (policy_.consecutive_5xx > 0 && e.consecutive_5xx >= policy_.consecutive_5xx) {
    return tryEject(index, EjectionReason::consecutive_5xx, now);
  }
  if (policy_.consecutive_gateway_errors > 0 && e.consecutive_gateway >= policy_.consecutive_gateway_errors) {
    return tryEject(index, EjectionReason::consecutive_gateway_errors, now);
  }
  return std::nullopt;
}

std::optional<EjectionEvent> OutlierDetector::tryEject(std::size_t index, EjectionReason reason, TimePoint now) {
  Endpoint& e = endpoints_[index];
  e.consecutive_5xx = 0;
  e.consecutive_gateway = 0;
  if (!ejectionAllowed()) {
    ++ejections_refused_;
    return std::nullopt;
  }
  ++e.times_ejected;
  e.ejected = true;
  const Duration duration = ejectionDuration(e.times_ejected);
  e.until = now + duration;
  ++ejected_count_;
  ++ejections_total_;
  return EjectionEvent{index, reason, e.times_ejected, duration, e.until};
}

std::vector<std::size_t> OutlierDetector::evaluate(TimePoint now) {
  std::vector<std::size_t> returned;
  for (std::size_t i = 0; i < endpoints_.size(); ++i) {
    Endpoint& e = endpoints_[i];
    if (e.ejected) {
      if (now < e.until) continue;
      e.ejected = false;
      e.decay_from = now;
      --ejected_count_;
      returned.push_back(i);
      continue;
    }
    if (e.times_ejected == 0 || policy_.interval <= Duration{0} || now <= e.decay_from) continue;
    const auto intervals = static_cast<std::uint64_t>((now - e.decay_from) / policy_.interval);
    const auto decay = static_cast<std::uint32_t>(std::min<std::uint64_t>(intervals, e.times_ejected));
    e.times_ejected -= decay;
    e.decay_from += policy_.interval * decay;
  }
  return returned;
}

bool OutlierDetector::isEjected(std::size_t endpoint) const {
  return endpoint < endpoints_.size() && endpoints_[endpoint].ejected;
}

std::optional<TimePoint> OutlierDetector::ejectedUntil(std::size_t endpoint) const {
  if (!isEjected(endpoint)) return std::nullopt;
  return endpoints_[endpoint].until;
}

std::uint32_t OutlierDetector::timesEjected(std::size_t endpoint) const {
  return endpoint < endpoints_.size() ? endpoints_[endpoint].times_ejected : 0;
}

}  // namespace hawser::policy
