// Trace context: the ids a request carries across hops, the header formats
// that carry them (W3C Trace Context, AWS X-Ray, Zipkin B3) and the sampler.
// Plain functions over strings: every parser here reads bytes from the
// network, so each is fuzzed (tests/fuzz/trace_context.cpp) and refuses
// anything its specification does not allow.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hawser::telemetry {

struct TraceId {
  std::array<uint8_t, 16> bytes{};
  bool valid() const;  // not all zero
  std::string hex() const;
  bool operator==(const TraceId&) const = default;
};

struct SpanId {
  std::array<uint8_t, 8> bytes{};
  bool valid() const;
  std::string hex() const;
  bool operator==(const SpanId&) const = default;
};

// What an incoming request says about its trace. `sampled` is empty when
// the caller left the decision to us (B3 and X-Ray may defer it).
struct IncomingContext {
  TraceId trace;
  SpanId parent;
  std::optional<bool> sampled;
  bool valid() const { return trace.valid() && parent.valid(); }
  bool traceOnly() const { return trace.valid() && !parent.valid(); }  // an X-Ray Root without Parent
};

// The propagation formats (`telemetry.tracing.otlp.propagation`).
enum class Propagator : uint8_t {
  w3c,      // traceparent / tracestate
  xray,     // X-Amzn-Trace-Id
  b3,       // b3 (single header); extraction also reads the multi-header form
  b3multi,  // X-B3-TraceId, X-B3-SpanId, X-B3-ParentSpanId, X-B3-Sampled, X-B3-Flags
};
std::optional<Propagator> parsePropagator(std::string_view name);  // also the OTEL_PROPAGATORS names
const char* name(Propagator p);

// W3C Trace Context level 1 (`00-<32 hex>-<16 hex>-<2 hex>`). A later
// version is read as the spec says (its first four fields, then '-' or the
// end); version ff, upper-case hex and all-zero ids are refused.
std::optional<IncomingContext> parseTraceparent(std::string_view value);
std::string formatTraceparent(const TraceId& trace, const SpanId& span, bool sampled);
// tracestate is passed on only when well formed (at most 32 list members,
// 512 bytes); otherwise it is dropped, as the spec allows.
bool validTracestate(std::string_view value);

// AWS X-Ray: `Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=<0|1|?>`, keys in
// any order, others (Self, Lineage) ignored. Without Parent (what an ALB
// sends) the trace id is kept and the parent left zero: the caller of
// IncomingContext::valid() starts a root span in that trace.
std::optional<IncomingContext> parseXrayHeader(std::string_view value);
std::string formatXrayHeader(const TraceId& trace, const SpanId& span, bool sampled);

// B3 single header: `<trace>-<span>[-<sampled>[-<parent>]]` (trace 16 or 32
// hex, sampled 0, 1 or d) or only a decision (`0`, `1`, `d`), which carries
// no context and yields nullopt.
std::optional<IncomingContext> parseB3Single(std::string_view value);
std::string formatB3Single(const TraceId& trace, const SpanId& span, bool sampled);
// B3 multi header: each value as sent (an absent header as an empty view).
std::optional<IncomingContext> parseB3Multi(std::string_view trace_id, std::string_view span_id,
                                            std::string_view sampled, std::string_view flags);

// Parent-based sampling: a caller's decision is kept; a new trace (or one
// whose caller deferred) is sampled when its id falls under the ratio.
struct Sampler {
  enum class Root : uint8_t { always_on, always_off, ratio };
  Root root = Root::always_on;
  double ratio = 1.0;
  bool parent_based = true;
  bool sample(const std::optional<IncomingContext>& incoming, const TraceId& trace) const;
};
// OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG as the SDK specification
// names them; nullopt for an unknown sampler name.
std::optional<Sampler> samplerFromEnvironment(std::string_view name, std::string_view arg);

// New ids from a 64-bit generator: never all zero. With `xray_epoch` the
// trace id starts with the current epoch seconds, as X-Ray requires of ids
// it accepts (so one id serves both formats).
template <class Gen>
TraceId newTraceId(Gen& gen, uint32_t xray_epoch = 0) {
  TraceId t;
  do {
    uint64_t hi = gen(), lo = gen();
    if (xray_epoch) hi = (static_cast<uint64_t>(xray_epoch) << 32) | (hi & 0xffffffffu);
    for (int i = 0; i < 8; ++i) {
      t.bytes[i] = static_cast<uint8_t>(hi >> (56 - 8 * i));
      t.bytes[8 + i] = static_cast<uint8_t>(lo >> (56 - 8 * i));
    }
  } while (!t.valid());
  return t;
}
template <class Gen>
SpanId newSpanId(Gen& gen) {
  SpanId s;
  do {
    uint64_t v = gen();
    for (int i = 0; i < 8; ++i) s.bytes[i] = static_cast<uint8_t>(v >> (56 - 8 * i));
  } while (!s.valid());
  return s;
}

}  // namespace hawser::telemetry
