// The router: which cluster (or passthrough address) a request goes to, the
// service route it matches, the subset of that route, and the timeouts and
// retry policy that apply.
#include <boost/beast/http.hpp>

#include <charconv>

#include "dataplane/http/http_connection.h"
#include "dataplane/worker.h"
#include "policy/route_split.h"
#include "telemetry/metrics.h"

namespace hawser::http1 {
namespace http = boost::beast::http;

namespace {
// Pins a route's subset by name (policy/route_split.h), e.g. to try a canary.
constexpr std::string_view kSubsetHeader = policy::kSubsetOverrideHeader;

}  // namespace

// Splits "host[:port]" (with [v6] support). Port 0 when absent.
bool splitAuthority(std::string_view auth, std::string& host, uint16_t& port) {
  port = 0;
  if (auth.empty()) return false;
  if (auth.front() == '[') {
    auto close = auth.find(']');
    if (close == std::string_view::npos) return false;
    host = std::string(auth.substr(1, close - 1));
    auth.remove_prefix(close + 1);
    if (auth.empty()) return true;
    if (auth.front() != ':') return false;
    auth.remove_prefix(1);
  } else {
    auto colon = auth.rfind(':');
    host = std::string(auth.substr(0, colon));
    if (colon == std::string_view::npos) return !host.empty();
    auth.remove_prefix(colon + 1);
  }
  unsigned p = 0;
  auto [end, ec] = std::from_chars(auth.data(), auth.data() + auth.size(), p);
  if (ec != std::errc() || end != auth.data() + auth.size() || p == 0 || p > 65535) return false;
  port = static_cast<uint16_t>(p);
  return !host.empty();
}

telemetry::RequestStats* HttpConnection::unroutedStats() {
  if (!unrouted_stats_) unrouted_stats_ = &w_.metrics().requestStats("outbound", "unrouted", "");
  return unrouted_stats_;
}

std::optional<LocalReply> HttpConnection::route(Exchange& x, Request& rq, const ListenerSpec& spec, RouteChoice& out) {
  auto& req = rq.head();
  if (spec.kind != ListenerSpec::Kind::http_proxy) {
    out.cluster = spec.cluster;
    x.authority = std::string(req[http::field::host]);
  } else {
    // An absolute-form target (its authority already checked against Host
    // by the codec) becomes origin-form with that authority in Host.
    std::string_view target = req.target();
    if (target.size() > 7 && iequalsAscii(target.substr(0, 7), "http://")) {
      auto rest = target.substr(7);
      const size_t end = std::min(rest.find_first_of("/?"), rest.size());
      x.authority = std::string(rest.substr(0, end));
      const std::string_view origin = rest.substr(end);
      std::string path = origin.empty() || origin.front() == '?' ? "/" : "";
      path += origin;
      req.target(path);
      req.set(http::field::host, x.authority);
    } else {
      x.authority = std::string(req[http::field::host]);
    }
    std::string host;
    uint16_t port = 0;
    if (!splitAuthority(x.authority, host, port)) {
      x.stats = unroutedStats();
      return LocalReply::not_found;
    }
    if (auto c = snap_->service(host)) {
      out.cluster = c;
    } else if (snap_->config->outbound.passthrough && snap_->passthrough) {
      out.cluster = snap_->passthrough;
      out.fixed = std::make_shared<discovery::Endpoint>(host, port ? port : 80);
    } else {
      x.stats = unroutedStats();
      return LocalReply::not_found;
    }
  }
  if (!out.cluster) return LocalReply::not_found;
  x.service = out.cluster->name();
  x.path = std::string(req.target());  // origin-form, after an absolute-form rewrite
  if (spec.kind != ListenerSpec::Kind::inbound || !peer_stats_) x.stats = out.cluster->stats[w_.id()];

  // The service's routes: the first match may send the request to a subset
  // of the endpoints and override retries and timeouts.
  out.route = out.fixed ? nullptr : out.cluster->matchRoute(req);
  if (out.route) {
    auto pin = req.find(kSubsetHeader);
    out.subset = out.cluster->chooseSubset(w_.id(), *out.route,
                                           pin == req.end() ? std::string_view() : std::string_view(pin->value()));
    x.route = out.route->prefix;
    if (out.subset && out.route->split) {
      for (size_t j = 0; j < out.route->subset_ids.size(); ++j) {
        if (out.route->subset_ids[j] == *out.subset) x.subset = out.route->split->subsets()[j].name;
      }
    }
  }
  out.timeouts = out.route && out.route->timeouts ? *out.route->timeouts : out.cluster->timeouts();
  out.retry = out.route && out.route->retry ? &*out.route->retry : &out.cluster->policy->retry();
  if (out.timeouts.request.count() > 0) x.deadline = x.start + out.timeouts.request;
  return std::nullopt;
}

}  // namespace hawser::http1
