// The capture tee: one CaptureRecord per sampled exchange, filled from the
// observer hooks (the request head as the client sent it, the response head
// as the upstream sent it, the body bytes as they pass, up to
// max_body_bytes) and handed to the shipper at completion. Sensitive header
// values are replaced here, before the record leaves the request path.
#include <algorithm>
#include <cctype>
#include <chrono>

#include "dataplane/http/observers.h"
#include "telemetry/capture/shipper.h"

namespace hawser {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool listed(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool wantedService(const config::Capture& settings, std::string_view service) {
  if (service.empty()) return true;  // not routed (a local reply): only the filters by name apply below
  if (!settings.include_services.empty() && !listed(settings.include_services, service)) return false;
  return !listed(settings.exclude_services, service);
}

// A record's service names its archive folder: letters, digits, '.', '-', '_', starting with a
// letter or digit (a cluster's internal name, e.g. "inbound|app", is not one).
std::string recordService(std::string_view node_service, std::string_view cluster, std::string_view listener) {
  std::string out(!node_service.empty() ? node_service : !cluster.empty() ? cluster : listener);
  for (char& ch : out) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '-' && ch != '_') ch = '-';
  }
  if (out.empty() || !std::isalnum(static_cast<unsigned char>(out[0]))) out = "s-" + out;
  return out;
}

// xorshift64*, seeded per worker and start: sampling and record ids.
struct Draw {
  explicit Draw(unsigned worker) {
    uint64_t seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    state ^= seed * 0x9e3779b97f4a7c15ull + (static_cast<uint64_t>(worker) << 32);
    next();
  }
  uint64_t next() {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return state * 0x2545f4914f6cdd1dull;
  }
  bool sampled(double ratio) { return ratio >= 1.0 || static_cast<double>(next() >> 11) * 0x1.0p-53 < ratio; }
  uint64_t state = 0x853c49e6748fea9bull;
};

int64_t startedAtUs(std::chrono::steady_clock::duration took) {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count() -
         duration_cast<microseconds>(took).count();
}

class CaptureObserver final : public ExchangeObserver {
 public:
  CaptureObserver(telemetry::CaptureShipper& shipper, unsigned worker, const config::Capture& settings,
                  std::string_view node_service)
      : shipper_(shipper), worker_(worker), settings_(settings), node_service_(node_service), draw_(worker) {}

  void onRequestHead(const Exchange& x, const RequestHead& head) noexcept override {
    if (!draw_.sampled(settings_.sample_ratio)) return;
    try {
      auto r = std::make_unique<telemetry::CaptureRecord>();
      r->method = x.method;
      r->target = std::string(head.target());
      r->version = x.version;
      copyHeaders(head, r->request.headers, r->redacted);
      x.capture = std::move(r);
    } catch (...) {  // out of memory: this exchange goes uncaptured
      x.capture.reset();
    }
  }

  void onAttemptStart(const Exchange& x, const Attempt&, RequestHead&) noexcept override {
    if (x.capture && !wanted(x)) x.capture.reset();  // the route named an excluded service
  }

  void onResponseHead(const Exchange& x, const ResponseHead& head) noexcept override {
    if (!x.capture) return;
    try {
      x.capture->response.headers.clear();
      copyHeaders(head, x.capture->response.headers, x.capture->redacted);
    } catch (...) {
      x.capture.reset();
    }
  }

  void onBody(const Exchange& x, BodyDirection d, std::string_view bytes) noexcept override {
    if (!x.capture) return;
    try {
      (d == BodyDirection::request ? x.capture->request : x.capture->response).append(bytes, settings_.max_body_bytes);
    } catch (...) {
      x.capture.reset();
    }
  }

  void onComplete(const Exchange& x) noexcept override {
    if (!x.capture) return;
    auto r = std::move(x.capture);
    if (!wanted(x)) return;
    try {
      using namespace std::chrono;
      const auto took = Exchange::Clock::now() - x.start;
      r->start_us = startedAtUs(took);
      r->duration_us = duration_cast<microseconds>(took).count();
      r->id = telemetry::recordId(draw_.next(), draw_.next());
      r->kind = x.method == "CONNECT" ? "connect" : x.status == 101 ? "websocket" : "http";
      r->direction = x.direction == Direction::inbound ? "inbound" : "outbound";
      r->service = recordService(node_service_, x.service, x.listener);
      if (x.direction == Direction::outbound) r->remote_service = std::string(x.service);
      r->request_id = x.request_id;
      r->listener = std::string(x.listener);
      r->peer = std::string(x.direction == Direction::inbound ? x.peer : x.upstream_peer);
      r->upstream = x.upstream;
      if (x.trace.active) {
        r->trace_id = x.trace.trace.hex();
        r->span_id = x.trace.exportedSpan(x.direction == Direction::outbound, x.attempts).hex();
      }
      r->reason = std::string(x.reason);
      r->attempts = x.attempts;
      r->scheme = std::string(x.scheme);
      r->authority = x.authority;
      r->status = x.status;
      r->bytes_in = x.bytes_in;
      r->bytes_out = x.bytes_out;
      if (r->kind != "http") {  // sessions: metadata only
        r->request.body.clear();
        r->response = {};
      }
      shipper_.submit(worker_, std::move(*r));
    } catch (...) {  // out of memory: the record is lost, never the request
    }
  }

 private:
  template <class Head>
  void copyHeaders(const Head& head, telemetry::CaptureHeaders& out, bool& redacted) const {
    for (const auto& f : head) {
      auto name = f.name_string();
      bool secret = std::any_of(settings_.redact_headers.begin(), settings_.redact_headers.end(),
                                [&](const std::string& n) { return iequals(n, name); });
      redacted |= secret;
      out.emplace_back(std::string(name), secret ? std::string(telemetry::kRedactedMarker) : std::string(f.value()));
    }
  }

  bool wanted(const Exchange& x) const { return wantedService(settings_, x.service); }

  telemetry::CaptureShipper& shipper_;
  unsigned worker_;
  const config::Capture settings_;  // a copy: connections keep this observer set past a reload
  const std::string node_service_;
  Draw draw_;
};

}  // namespace

void captureTcpSession(telemetry::CaptureShipper& shipper, unsigned worker, const config::Capture& settings,
                       std::string_view node_service, const TcpSessionFacts& f) {
  thread_local Draw draw(worker);  // one per worker thread
  if (!wantedService(settings, f.cluster) || !draw.sampled(settings.sample_ratio)) return;
  try {
    telemetry::CaptureRecord r;
    const auto took = std::chrono::steady_clock::now() - f.start;
    r.start_us = startedAtUs(took);
    r.duration_us = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
    r.id = telemetry::recordId(draw.next(), draw.next());
    r.kind = "tcp";
    r.direction = f.inbound ? "inbound" : "outbound";
    r.service = recordService(node_service, f.cluster, f.listener);
    if (!f.inbound) r.remote_service = std::string(f.cluster);
    r.listener = std::string(f.listener);
    r.peer = std::string(f.peer);
    r.upstream = std::string(f.upstream);
    r.reason = std::string(f.reason);
    r.attempts = f.upstream.empty() ? 0 : 1;
    r.bytes_in = f.bytes_in;
    r.bytes_out = f.bytes_out;
    shipper.submit(worker, std::move(r));
  } catch (...) {  // out of memory: the record is lost, never the session
  }
}

std::unique_ptr<ExchangeObserver> makeCaptureObserver(telemetry::CaptureShipper& shipper, unsigned worker,
                                                      const config::Capture& settings, std::string_view node_service) {
  return std::make_unique<CaptureObserver>(shipper, worker, settings, node_service);
}

}  // namespace hawser
