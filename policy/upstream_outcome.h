// How one attempt to an upstream ended: a response status, or a failure that
// produced none. Shared by the retry decision and outlier detection.
#pragma once

#include <cstdint>

namespace hawser::policy {

enum class UpstreamFailure : std::uint8_t {
  none,             // a response status arrived
  connect_failure,  // connect refused, unreachable, TLS handshake failed: nothing was sent
  reset,            // the connection closed or reset before a complete response head
  timeout,          // the per-try timeout fired before a response head
};

struct UpstreamOutcome {
  UpstreamFailure failure = UpstreamFailure::none;
  int status = 0;  // meaningful only when failure == none

  static constexpr UpstreamOutcome response(int code) { return {UpstreamFailure::none, code}; }
  static constexpr UpstreamOutcome connectFailure() { return {UpstreamFailure::connect_failure, 0}; }
  static constexpr UpstreamOutcome reset() { return {UpstreamFailure::reset, 0}; }
  static constexpr UpstreamOutcome timeout() { return {UpstreamFailure::timeout, 0}; }

  constexpr bool isResponse() const { return failure == UpstreamFailure::none; }
  // A failure with no response counts as the 5xx hawser answers in its place
  // (503 for connect failure and reset, 504 for timeout), as in Envoy.
  constexpr bool is5xx() const { return !isResponse() || (status >= 500 && status <= 599); }
  // 502, 503, 504, or a failure with no response.
  constexpr bool isGatewayError() const { return !isResponse() || status == 502 || status == 503 || status == 504; }
};

}  // namespace hawser::policy
