#include "dataplane/http/trace_headers.h"

#include <boost/beast/http/fields.hpp>

#include <algorithm>
#include <ctime>

namespace hawser::http1 {
namespace tel = telemetry;

namespace {
constexpr std::string_view kTraceparent = "traceparent";
constexpr std::string_view kTracestate = "tracestate";
constexpr std::string_view kXray = "x-amzn-trace-id";
constexpr std::string_view kB3 = "b3";
constexpr std::string_view kB3TraceId = "x-b3-traceid";
constexpr std::string_view kB3SpanId = "x-b3-spanid";
constexpr std::string_view kB3ParentSpanId = "x-b3-parentspanid";
constexpr std::string_view kB3Sampled = "x-b3-sampled";
constexpr std::string_view kB3Flags = "x-b3-flags";

// The one value of a header sent once; two lines of a context header are
// ambiguous and read as none.
std::optional<std::string_view> single(const RequestHead& h, std::string_view name) {
  auto [first, last] = h.equal_range(name);
  if (first == last || std::next(first) != last) return std::nullopt;
  return std::string_view(first->value());
}

std::string_view valueOr(const RequestHead& h, std::string_view name) {
  return single(h, name).value_or(std::string_view{});
}

std::optional<tel::IncomingContext> extract(tel::Propagator p, const RequestHead& h, std::string& tracestate) {
  switch (p) {
    case tel::Propagator::w3c: {
      auto v = single(h, kTraceparent);
      auto c = v ? tel::parseTraceparent(*v) : std::nullopt;
      if (c) {
        // tracestate may come in several lines: one list.
        std::string joined;
        for (auto [it, end] = h.equal_range(kTracestate); it != end; ++it) {
          if (!joined.empty()) joined += ',';
          joined.append(it->value());
        }
        if (tel::validTracestate(joined)) tracestate = std::move(joined);
      }
      return c;
    }
    case tel::Propagator::xray: {
      auto v = single(h, kXray);
      return v ? tel::parseXrayHeader(*v) : std::nullopt;
    }
    case tel::Propagator::b3:
    case tel::Propagator::b3multi: {
      // Either form is read whichever is configured, as B3 propagators do.
      if (auto v = single(h, kB3)) return tel::parseB3Single(*v);
      if (!single(h, kB3TraceId)) return std::nullopt;
      return tel::parseB3Multi(valueOr(h, kB3TraceId), valueOr(h, kB3SpanId), valueOr(h, kB3Sampled),
                               valueOr(h, kB3Flags));
    }
  }
  return std::nullopt;
}

bool has(const config::Tracing& t, tel::Propagator p) {
  return std::find(t.propagation.begin(), t.propagation.end(), p) != t.propagation.end();
}
}  // namespace

void startTrace(Exchange& x, const RequestHead& head, const config::Tracing& t, policy::Random& rng) {
  std::optional<tel::IncomingContext> in;
  for (auto p : t.propagation) {
    in = extract(p, head, x.trace.tracestate);
    if (in) break;
  }
  auto& tr = x.trace;
  tr.active = true;
  if (in && in->traceOnly()) {  // the trace id alone (an ALB's X-Ray header): a root span in that trace
    tr.trace = in->trace;
    if (!in->sampled) in.reset();
  } else if (in) {
    tr.trace = in->trace;
    tr.parent = in->parent;
  } else {
    // With X-Ray among the formats a new id starts with the epoch seconds,
    // so the same id is valid in both.
    const auto epoch = has(t, tel::Propagator::xray) ? static_cast<uint32_t>(std::time(nullptr)) : 0;
    tr.trace = tel::newTraceId(rng, epoch);
  }
  tr.span = tel::newSpanId(rng);
  tr.sampled = t.sampler.sample(in, tr.trace);
  if (tr.sampled) {
    if (auto ua = head.find(boost::beast::http::field::user_agent); ua != head.end()) tr.user_agent = ua->value();
  }
}

void injectTrace(Exchange& x, RequestHead& head, const config::Tracing& t, policy::Random& rng) {
  auto& tr = x.trace;
  tel::SpanId parent = tr.span;
  if (x.direction == Direction::outbound) {
    tr.attempt = tel::newSpanId(rng);
    parent = tr.attempt;
  }
  const bool b3 = has(t, tel::Propagator::b3), b3multi = has(t, tel::Propagator::b3multi);
  for (auto p : t.propagation) {
    switch (p) {
      case tel::Propagator::w3c:
        head.set(kTraceparent, tel::formatTraceparent(tr.trace, parent, tr.sampled));
        if (tr.tracestate.empty()) {
          head.erase(kTracestate);
        } else {
          head.set(kTracestate, tr.tracestate);
        }
        break;
      case tel::Propagator::xray: head.set(kXray, tel::formatXrayHeader(tr.trace, parent, tr.sampled)); break;
      case tel::Propagator::b3: head.set(kB3, tel::formatB3Single(tr.trace, parent, tr.sampled)); break;
      case tel::Propagator::b3multi:
        head.set(kB3TraceId, tr.trace.hex());
        head.set(kB3SpanId, parent.hex());
        if (x.direction == Direction::outbound) {
          head.set(kB3ParentSpanId, tr.span.hex());
        } else if (tr.parent.valid()) {
          head.set(kB3ParentSpanId, tr.parent.hex());
        } else {
          head.erase(kB3ParentSpanId);
        }
        head.set(kB3Sampled, tr.sampled ? "1" : "0");
        head.erase(kB3Flags);
        break;
    }
  }
  // A stale form of B3 the callee might read instead of the one written.
  if (b3 && !b3multi) {
    for (auto name : {kB3TraceId, kB3SpanId, kB3ParentSpanId, kB3Sampled, kB3Flags}) head.erase(name);
  }
  if (b3multi && !b3) head.erase(kB3);
}

}  // namespace hawser::http1
