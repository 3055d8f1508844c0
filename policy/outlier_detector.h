// Passive outlier detection (Envoy's consecutive_5xx and
// consecutive_gateway_failure), per endpoint index.
//
// Counting, per endpoint, from the outcomes the caller records:
//   - any 5xx, and any failure with no response (connect failure, reset,
//     timeout, counted as the 503/504 hawser answers instead), adds one to
//     consecutive 5xx;
//   - 502/503/504 and those failures add one to consecutive gateway errors;
//     another 5xx (500, 501, ...) resets that count;
//   - anything else (2xx, 3xx, 4xx) resets both.
// When a count reaches its threshold (0 disables it) the endpoint is ejected,
// if the cap allows, and both counts restart from zero either way.
//
// Ejection time: base_ejection * times_ejected (this ejection included),
// capped at max(max_ejection, base_ejection).
//
// Cap (max_ejection_percent, 0 disables ejection): an ejection is allowed when
// no endpoint is ejected yet, or when the ejected count after it stays within
// the percentage: (ejected + 1) * 100 <= max_ejection_percent * endpoints.
// So one endpoint can always be ejected (Envoy's always_eject_one_host; here
// the default, because sidecar clusters are small and 10% of 3 endpoints would
// otherwise never eject anything); beyond one the percentage is a hard cap.
// Refused ejections are counted.
//
// Return and decay: evaluate(now) returns endpoints whose ejection time has
// passed. Once back, an endpoint's times_ejected drops by one for every full
// `interval` it stays un-ejected (counted from its return), so an endpoint
// that stays well earns its short ejections back, as in Envoy.
//
// Not thread-safe: one detector per service, owned by the main thread;
// workers post outcomes to it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "policy/clock.h"
#include "policy/upstream_outcome.h"

namespace hawser::policy {

struct OutlierDetectionPolicy {
  std::uint32_t consecutive_5xx = 5;
  std::uint32_t consecutive_gateway_errors = 5;
  Duration interval = std::chrono::seconds(10);
  Duration base_ejection = std::chrono::seconds(30);
  Duration max_ejection = std::chrono::seconds(300);
  std::uint32_t max_ejection_percent = 10;
};

enum class EjectionReason : std::uint8_t { consecutive_5xx, consecutive_gateway_errors };

std::string_view ejectionReasonName(EjectionReason reason);

// One ejection: count it in hawser_outlier_ejections_total and log it.
struct EjectionEvent {
  std::size_t endpoint = 0;
  EjectionReason reason = EjectionReason::consecutive_5xx;
  std::uint32_t times_ejected = 0;  // this one included
  Duration duration{};
  TimePoint until{};
};

class OutlierDetector {
 public:
  static constexpr std::size_t kNewEndpoint = std::numeric_limits<std::size_t>::max();

  explicit OutlierDetector(OutlierDetectionPolicy policy, std::size_t endpoints = 0);

  // The endpoint set changed. new_to_old[j] is the old index of new endpoint
  // j, or kNewEndpoint for one not seen before; state moves with it.
  void remap(std::span<const std::size_t> new_to_old);
  // Grows (new endpoints are healthy) or drops trailing endpoints.
  void resize(std::size_t endpoints);

  // Records one finished attempt; returns the ejection it caused, if any.
  // Outcomes for unknown or already ejected endpoints are ignored.
  std::optional<EjectionEvent> record(std::size_t endpoint, const UpstreamOutcome& outcome, TimePoint now);

  // Returns endpoints whose ejection ended at or before `now` (now usable
  // again) and decays times_ejected. Call every `interval`.
  std::vector<std::size_t> evaluate(TimePoint now);

  bool isEjected(std::size_t endpoint) const;
  std::optional<TimePoint> ejectedUntil(std::size_t endpoint) const;
  std::uint32_t timesEjected(std::size_t endpoint) const;
  std::size_t endpointCount() const { return endpoints_.size(); }
  std::size_t ejectedCount() const { return ejected_count_; }
  std::uint64_t ejectionsTotal() const { return ejections_total_; }
  // Ejections refused by max_ejection_percent.
  std::uint64_t ejectionsRefused() const { return ejections_refused_; }

  // base_ejection * times, capped (see above).
  Duration ejectionDuration(std::uint32_t times) const;

 private:
  struct Endpoint {
    std::uint32_t consecutive_5xx = 0;
    std::uint32_t consecutive_gateway = 0;
    std::uint32_t times_ejected = 0;
    bool ejected = false;
    TimePoint until{};       // while ejected
    TimePoint decay_from{};  // while not ejected and times_ejected > 0
  };

  bool ejectionAllowed() const;
  std::optional<EjectionEvent> tryEject(std::size_t index, EjectionReason reason, TimePoint now);
  void recountEjected();

  OutlierDetectionPolicy policy_;
  std::vector<Endpoint> endpoints_;
  std::size_t ejected_count_ = 0;
  std::uint64_t ejections_total_ = 0;
  std::uint64_t ejections_refused_ = 0;
};

}  // namespace hawser::policy
