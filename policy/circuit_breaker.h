// Circuit breaking thresholds (Envoy's): caps on concurrent connections,
// pending requests, requests and retries to one upstream service. Plain
// counters: the caller acquires before and releases after, on one worker.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace hawser::policy {

enum class Threshold : std::uint8_t { max_connections, max_pending, max_requests, max_retries };

inline constexpr std::size_t kThresholdCount = 4;

// "max_connections", ...: the `threshold` label of
// hawser_circuit_breaker_overflow_total.
std::string_view thresholdName(Threshold threshold);

struct CircuitBreakerThresholds {
  std::uint32_t max_connections = 1024;
  std::uint32_t max_pending = 1024;
  std::uint32_t max_requests = 1024;
  std::uint32_t max_retries = 3;
};

class CircuitBreaker {
 public:
  explicit CircuitBreaker(CircuitBreakerThresholds thresholds);

  // Whether one more would stay within the threshold (count < limit).
  bool canAcquire(Threshold threshold) const;
  // Takes one when within the threshold; otherwise counts an overflow and
  // returns false. Every successful acquire needs a release.
  bool tryAcquire(Threshold threshold);
  void release(Threshold threshold);

  // Admission of a new request: max_requests, then max_pending when it has to
  // wait for a connection. All or nothing: on success both were acquired (the
  // caller releases max_pending once a connection is assigned, max_requests
  // when the request ends); on failure nothing was, and the returned
  // threshold is the one that overflowed.
  std::optional<Threshold> admitRequest(bool needs_pending_slot);

  std::uint32_t limit(Threshold threshold) const;
  std::uint64_t active(Threshold threshold) const { return active_[index(threshold)]; }
  std::uint64_t overflows(Threshold threshold) const { return overflows_[index(threshold)]; }

 private:
  static constexpr std::size_t index(Threshold t) { return static_cast<std::size_t>(t); }

  std::array<std::uint32_t, kThresholdCount> limits_;
  std::array<std::uint64_t, kThresholdCount> active_{};
  std::array<std::uint64_t, kThresholdCount> overflows_{};
};

}  // namespace hawser::policy
