// One request and its response, however it ends: the Exchange is what the
// request path fills in and what every observer (metrics, access log, and
// later tracing and the capture tee) reads. Codec-neutral: HTTP/1.1 and
// HTTP/2 connections make the same Exchanges.
#pragma once

#include <boost/beast/http/message.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "telemetry/capture/record.h"
#include "telemetry/trace_context.h"

namespace hawser::telemetry {
struct RequestStats;
}

namespace hawser {

enum class Direction { inbound, outbound };
enum class BodyDirection { request, response };

// The trace this exchange belongs to (dataplane/http/trace_headers.cpp):
// set from the request head when tracing is on, read by the observers.
struct ExchangeTrace {
  bool active = false;   // tracing is on: the context is propagated
  bool sampled = false;  // and this exchange's spans are exported
  telemetry::TraceId trace;
  telemetry::SpanId span;     // this hop's span: SERVER inbound, CLIENT outbound
  telemetry::SpanId parent;   // the caller's span; all zero for a new trace
  telemetry::SpanId attempt;  // outbound: the current attempt's span
  std::string tracestate;     // W3C tracestate as received (when well formed), passed on
  std::string user_agent;     // sampled exchanges only
  // The tracing observer's: the first attempt of an outbound exchange, held
  // back until a second attempt shows that the exchange needs a span per
  // attempt. An exchange with one attempt makes one CLIENT span, with that
  // attempt's id (the id the callee saw as its parent).
  struct HeldAttempt {
    bool held = false;
    telemetry::SpanId span;
    std::chrono::steady_clock::time_point start, end;
    std::string endpoint;
    unsigned status = 0;
    std::string_view failure;
  };
  mutable HeldAttempt first;
  // The id of this hop's exported span: `span`, or outbound with one attempt,
  // that attempt's (what the access log shows).
  const telemetry::SpanId& exportedSpan(bool outbound, unsigned attempts) const {
    return outbound && attempts == 1 ? attempt : span;
  }
};

struct Exchange {
  using Clock = std::chrono::steady_clock;
  Clock::time_point start = Clock::now();
  Clock::time_point deadline = Clock::time_point::max();  // the route's request timeout
  Direction direction = Direction::outbound;
  std::string_view listener;  // the listener's name (lives in the snapshot)
  std::string request_id;
  std::string method;
  std::string authority;
  std::string path;
  std::string upstream;     // the endpoint of the last attempt
  std::string_view peer;    // verified TLS identity of the downstream peer ("" if none)
  std::string_view reason;  // x-hawser-reason of a local reply, or why the exchange ended early
  unsigned status = 0;      // the status the client received; 0: it received none
  unsigned version = 11;    // the client's HTTP version (10 or 11)
  unsigned attempts = 0;
  uint64_t bytes_in = 0;                     // request body bytes from the client
  uint64_t bytes_out = 0;                    // response body bytes to the client
  telemetry::RequestStats* stats = nullptr;  // the series this exchange counts in
  bool response_started = false;             // a response head went to the client
  std::string_view client_address;           // the downstream peer's IP (lives in the connection)
  std::string_view scheme = "http";          // what the client spoke: http, or https over TLS
  std::string_view route;                    // the prefix of the service route matched ("" if none)
  std::string_view subset;                   // the named subset chosen ("" if none)
  std::string_view upstream_peer;            // the identity the upstream proved (outbound mTLS)
  std::string_view service;                  // the cluster routed to ("" before routing or if none)
  ExchangeTrace trace;
  // The capture observer's record of this exchange, while it is being filled
  // (null when capture is off or this exchange was not sampled).
  mutable std::unique_ptr<telemetry::CaptureRecord> capture;
};

// One try of an exchange against one endpoint.
struct Attempt {
  unsigned number = 1;
  std::string_view endpoint;
  std::chrono::steady_clock::time_point start;
  std::chrono::steady_clock::time_point end;
  unsigned status = 0;       // the upstream's status; 0 when none arrived
  std::string_view failure;  // "" for a response, else connect-failure, timeout, reset
};

// Header fields an observer may add to the request of an attempt (e.g. a
// traceparent for this attempt's span).
using RequestHead = boost::beast::http::request_header<>;
using ResponseHead = boost::beast::http::response_header<>;

// Hooks into every exchange. Called on the worker thread, in the order
// below, never concurrently for one exchange; `noexcept`: an observer that
// fails must count and carry on, never fail the request. Body views are the
// bytes as they pass (zero-copy, valid only during the call).
class ExchangeObserver {
 public:
  virtual ~ExchangeObserver() = default;
  virtual void onRequestHead(const Exchange&, const RequestHead&) noexcept {}
  virtual void onAttemptStart(const Exchange&, const Attempt&, RequestHead&) noexcept {}
  virtual void onAttemptEnd(const Exchange&, const Attempt&) noexcept {}
  virtual void onResponseHead(const Exchange&, const ResponseHead&) noexcept {}
  virtual void onBody(const Exchange&, BodyDirection, std::string_view) noexcept {}
  // Exactly once per exchange, after the last byte went to the client (or
  // the exchange ended without a response).
  virtual void onComplete(const Exchange&) noexcept {}
};

// The observers of one snapshot generation, in the order they run.
struct ExchangeObservers {
  std::vector<std::unique_ptr<ExchangeObserver>> list;
  bool wantsBodies = false;  // any observer reads body bytes

  void requestHead(const Exchange& x, const RequestHead& h) const noexcept {
    for (const auto& o : list) o->onRequestHead(x, h);
  }
  void attemptStart(const Exchange& x, const Attempt& a, RequestHead& h) const noexcept {
    for (const auto& o : list) o->onAttemptStart(x, a, h);
  }
  void attemptEnd(const Exchange& x, const Attempt& a) const noexcept {
    for (const auto& o : list) o->onAttemptEnd(x, a);
  }
  void responseHead(const Exchange& x, const ResponseHead& h) const noexcept {
    for (const auto& o : list) o->onResponseHead(x, h);
  }
  void body(const Exchange& x, BodyDirection d, std::string_view bytes) const noexcept {
    if (!wantsBodies) return;
    for (const auto& o : list) o->onBody(x, d, bytes);
  }
  void complete(const Exchange& x) const noexcept {
    for (const auto& o : list) o->onComplete(x);
  }
};

}  // namespace hawser
