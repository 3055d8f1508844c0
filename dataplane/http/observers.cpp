#include "dataplane/http/observers.h"

#include "telemetry/access_log.h"
#include "telemetry/metrics.h"
#include "telemetry/trace_exporter.h"

namespace hawser {

namespace {
double secondsSince(Exchange::Clock::time_point start) {
  return std::chrono::duration<double>(Exchange::Clock::now() - start).count();
}

class MetricsObserver final : public ExchangeObserver {
 public:
  void onComplete(const Exchange& x) noexcept override {
    if (x.stats) x.stats->record(x.status, secondsSince(x.start));
  }
};

class AccessLogObserver final : public ExchangeObserver {
 public:
  explicit AccessLogObserver(telemetry::AccessLog& log) : log_(log) {}
  void onComplete(const Exchange& x) noexcept override {
    telemetry::AccessRecord r;
    r.request_id = x.request_id;
    r.direction = x.direction == Direction::inbound ? "inbound" : "outbound";
    r.method = x.method;
    r.authority = x.authority;
    r.path = x.path;
    r.upstream = x.upstream;
    r.reason = x.reason;
    r.status = x.status;
    r.duration_ms = secondsSince(x.start) * 1000.0;
    r.bytes_received = x.bytes_in;
    r.bytes_sent = x.bytes_out;
    try {
      std::string trace, span;
      if (x.trace.active) {
        trace = x.trace.trace.hex();
        span = x.trace.exportedSpan(x.direction == Direction::outbound, x.attempts).hex();
        r.trace_id = trace;
        r.span_id = span;
      }
      log_.write(r);
    } catch (...) {  // an observer never fails the exchange
    }
  }

 private:
  telemetry::AccessLog& log_;
};

// The spans of sampled exchanges (dataplane/http/README.md, "Tracing"):
// SERVER inbound, CLIENT outbound, and outbound one CLIENT child per attempt.
class TracingObserver final : public ExchangeObserver {
 public:
  explicit TracingObserver(telemetry::TraceExporter& exporter) : exporter_(exporter) {}

  void onAttemptEnd(const Exchange& x, const Attempt& a) noexcept override {
    if (!x.trace.sampled || x.direction != Direction::outbound) return;
    try {
      auto& first = x.trace.first;
      if (a.number == 1) {  // held back: with no second attempt it is the exchange's one span
        first.held = true;
        first.span = x.trace.attempt;
        first.start = a.start;
        first.end = a.end;
        first.endpoint = a.endpoint;
        first.status = a.status;
        first.failure = a.failure;
        return;
      }
      if (first.held) {
        first.held = false;
        exporter_.submit(
            attemptSpan(x, first.span, 1, first.start, first.end, first.endpoint, first.status, first.failure));
      }
      exporter_.submit(attemptSpan(x, x.trace.attempt, a.number, a.start, a.end, a.endpoint, a.status, a.failure));
    } catch (...) {  // an observer never fails the exchange
    }
  }

  void onComplete(const Exchange& x) noexcept override {
    if (!x.trace.sampled) return;
    try {
      const bool inbound = x.direction == Direction::inbound;
      // Outbound with one attempt: one span, the attempt's (its id is the
      // callee's parent), carrying the attempt's attributes too.
      const auto& first = x.trace.first;
      const bool merged = !inbound && first.held;
      auto s = base(x, merged ? first.span : x.trace.span, x.trace.parent,
                    inbound ? telemetry::SpanKind::server : telemetry::SpanKind::client);
      if (merged) {
        addressAndPort(s, "network.peer.address", "network.peer.port", first.endpoint);
        s.attributes.push_back(Attribute::integer("hawser.attempt", 1));
        if (!first.failure.empty()) s.attributes.push_back(Attribute::str("hawser.attempt_failure", first.failure));
      }
      s.start_ns = unixNanos(x.start);
      s.end_ns = unixNanos(Exchange::Clock::now());
      // http.route is a server span's (and its name's); a client span names
      // the service route it took as hawser.route.
      if (!x.route.empty()) s.attributes.push_back(Attribute::str(inbound ? "http.route" : "hawser.route", x.route));
      if (inbound && !x.route.empty()) s.name.append(" ").append(x.route);
      auto path = std::string_view(x.path);
      path = path.substr(0, path.find('?'));  // never the query: it may hold secrets
      if (inbound || !path.starts_with("/")) {
        s.attributes.push_back(Attribute::str(path.starts_with("/") ? "url.path" : "url.full", path));
      } else {
        std::string full(x.scheme);
        full.append("://").append(x.authority).append(path);
        s.attributes.push_back(Attribute::str("url.full", full));
      }
      s.attributes.push_back(Attribute::str("url.scheme", x.scheme));
      server(s, x);
      if (inbound && !x.client_address.empty()) {
        s.attributes.push_back(Attribute::str("network.peer.address", x.client_address));
        s.attributes.push_back(Attribute::str("client.address", x.client_address));
      }
      if (!x.trace.user_agent.empty())
        s.attributes.push_back(Attribute::str("user_agent.original", x.trace.user_agent));
      if (x.status) s.attributes.push_back(Attribute::integer("http.response.status_code", x.status));
      // SERVER: 5xx is an error, 4xx is the client's; CLIENT: both are.
      if (x.status >= (inbound ? 500u : 400u) || x.status == 0) {
        s.status = telemetry::SpanStatus::error;
        s.attributes.push_back(
            Attribute::str("error.type", x.status ? std::to_string(x.status)
                                                  : std::string(x.reason.empty() ? "incomplete" : x.reason)));
      }
      if (!x.peer.empty()) s.attributes.push_back(Attribute::str("hawser.peer_identity", x.peer));
      if (!x.upstream_peer.empty()) s.attributes.push_back(Attribute::str("hawser.upstream_identity", x.upstream_peer));
      if (!x.upstream.empty()) s.attributes.push_back(Attribute::str("hawser.upstream", x.upstream));
      if (x.attempts) s.attributes.push_back(Attribute::integer("hawser.attempts", x.attempts));
      // The x-hawser-reason of a local reply, or why the exchange ended early.
      if (!x.reason.empty()) s.attributes.push_back(Attribute::str("hawser.reason", x.reason));
      if (!x.subset.empty()) s.attributes.push_back(Attribute::str("hawser.subset", x.subset));
      if (!x.request_id.empty()) s.attributes.push_back(Attribute::str("hawser.request_id", x.request_id));
      s.attributes.push_back(Attribute::str("hawser.listener", x.listener));
      exporter_.submit(std::move(s));
    } catch (...) {
    }
  }

 private:
  using Attribute = telemetry::Attribute;

  static uint64_t unixNanos(Exchange::Clock::time_point t) {
    const auto now = std::chrono::system_clock::now() - (Exchange::Clock::now() - t);
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count());
  }

  static telemetry::SpanRecord base(const Exchange& x, const telemetry::SpanId& span, const telemetry::SpanId& parent,
                                    telemetry::SpanKind kind) {
    telemetry::SpanRecord s;
    s.trace = x.trace.trace;
    s.span = span;
    s.parent = parent;
    s.sampled = true;
    s.trace_state = x.trace.tracestate;
    s.kind = kind;
    s.name = x.method;
    s.attributes.reserve(16);
    s.attributes.push_back(Attribute::str("http.request.method", x.method));
    return s;
  }

  // One attempt's CLIENT span, a child of the exchange's.
  static telemetry::SpanRecord attemptSpan(const Exchange& x, const telemetry::SpanId& id, unsigned number,
                                           Exchange::Clock::time_point start, Exchange::Clock::time_point end,
                                           std::string_view endpoint, unsigned status, std::string_view failure) {
    auto s = base(x, id, x.trace.span, telemetry::SpanKind::client);
    s.start_ns = unixNanos(start);
    s.end_ns = unixNanos(end);
    server(s, x);
    addressAndPort(s, "network.peer.address", "network.peer.port", endpoint);
    s.attributes.push_back(Attribute::integer("hawser.attempt", number));
    if (number > 1) s.attributes.push_back(Attribute::integer("http.request.resend_count", number - 1));
    s.attributes.push_back(Attribute::str("hawser.upstream", endpoint));
    if (status) s.attributes.push_back(Attribute::integer("http.response.status_code", status));
    if (!failure.empty()) {
      s.attributes.push_back(Attribute::str("error.type", failure));
      s.status = telemetry::SpanStatus::error;
    } else if (status >= 400) {
      s.attributes.push_back(Attribute::str("error.type", std::to_string(status)));
      s.status = telemetry::SpanStatus::error;
    }
    return s;
  }

  static void addressAndPort(telemetry::SpanRecord& s, std::string_view akey, std::string_view pkey,
                             std::string_view hostport) {
    auto colon = hostport.rfind(':');
    auto host = colon == std::string_view::npos ? hostport : hostport.substr(0, colon);
    if (host.size() > 1 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    s.attributes.push_back(Attribute::str(akey, host));
    if (colon != std::string_view::npos) {
      int64_t port = 0;
      for (char c : hostport.substr(colon + 1)) {
        if (c < '0' || c > '9' || port > 65535) return;
        port = port * 10 + (c - '0');
      }
      s.attributes.push_back(Attribute::integer(pkey, port));
    }
  }

  // server.address / server.port: the authority the client asked for.
  static void server(telemetry::SpanRecord& s, const Exchange& x) {
    if (!x.authority.empty()) addressAndPort(s, "server.address", "server.port", x.authority);
  }

  telemetry::TraceExporter& exporter_;
};
}  // namespace

std::unique_ptr<ExchangeObserver> makeMetricsObserver() {
  return std::make_unique<MetricsObserver>();
}

std::unique_ptr<ExchangeObserver> makeAccessLogObserver(telemetry::AccessLog& log) {
  return std::make_unique<AccessLogObserver>(log);
}

std::unique_ptr<ExchangeObserver> makeTracingObserver(telemetry::TraceExporter& exporter) {
  return std::make_unique<TracingObserver>(exporter);
}

std::shared_ptr<const ExchangeObservers> compileObservers(const ObserverInputs& in) {
  auto set = std::make_shared<ExchangeObservers>();
  const auto* c = in.config;
  if (c && c->tracing && in.tracer) set->list.push_back(makeTracingObserver(*in.tracer));
  if (c && c->metrics_enabled) set->list.push_back(makeMetricsObserver());
  if (in.access_log && in.access_log->enabled()) set->list.push_back(makeAccessLogObserver(*in.access_log));
  if (c && c->capture && in.shipper) {
    set->list.push_back(makeCaptureObserver(*in.shipper, in.worker, *c->capture, c->node.service));
    set->wantsBodies = true;
  }
  return set;
}

}  // namespace hawser
