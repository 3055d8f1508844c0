// The synchronous stages of the request path: each either lets the request
// continue (nullopt) or names the local reply it gets.
#include <boost/beast/http.hpp>

#include "dataplane/http/http_connection.h"
#include "dataplane/http_headers.h"
#include "dataplane/tls/identity.h"
#include "dataplane/worker.h"
#include "telemetry/metrics.h"

namespace hawser::http1 {
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

namespace {
constexpr std::string_view kXfcc = "x-forwarded-client-cert";

// An Upgrade hawser relays as a tunnel. `h2c` never is: its frames would
// carry headers (a forged x-forwarded-client-cert, say) past every filter.
// Returns whether any protocol is left to upgrade to.
bool keepRelayableUpgrade(RequestHead& req) {
  auto it = req.find(http::field::upgrade);
  if (it == req.end()) return false;
  std::string kept;
  std::string_view list = it->value();
  while (!list.empty()) {
    auto comma = list.find(',');
    auto token = list.substr(0, comma);
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
    if (!token.empty() && !iequalsAscii(token, "h2c")) kept.append(kept.empty() ? "" : ", ").append(token);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  req.erase("http2-settings");
  if (kept.empty()) {
    req.erase(http::field::upgrade);
    return false;
  }
  if (kept != it->value()) req.set(http::field::upgrade, kept);
  return true;
}
}  // namespace

// Authorization: an inbound listener's allow list against the verified peer.
// CONNECT makes a tunnel: only the http_proxy listener dials one.
std::optional<LocalReply> HttpConnection::checkRequest(Exchange&, Request& rq, const ListenerSpec& spec) {
  if (rq.head().method() == http::verb::connect && spec.kind != ListenerSpec::Kind::http_proxy) {
    return LocalReply::bad_request;
  }
  if (spec.kind == ListenerSpec::Kind::inbound && !spec.allow.empty() &&
      !tls::identityAllowed(spec.allow, peer_identity_)) {
    return LocalReply::unauthorized;
  }
  return std::nullopt;
}

// The listener's rate limit (per listener, or per peer identity).
std::optional<LocalReply> HttpConnection::admitListener(Exchange&, const ListenerSpec& spec) {
  if (!spec.rate_limiter) return std::nullopt;
  if (auto wait = spec.rate_limiter->admit(Clock::now(), peer_identity_)) {
    w_.metrics().rateLimited(spec.name).Increment();
    retry_after_ = *wait;
    return LocalReply::rate_limited;
  }
  return std::nullopt;
}

// The head as it goes upstream: hop-by-hop fields gone first (so nothing
// the client names in Connection can remove what hawser adds), framing
// lines gone (the upstream request writes its own), then the identity and
// forwarding headers hawser vouches for.
void HttpConnection::rewriteRequest(Exchange& x, Request& rq, const ListenerSpec& spec) {
  auto& req = rq.head();
  rq.upgrade = x.version >= 11 && isUpgradeRequest(req) && !rq.hasBody() && keepRelayableUpgrade(req);
  if (auto e = req.find(http::field::expect); e != req.end()) {
    rq.expect_continue = iequalsAscii(e->value(), "100-continue") && rq.hasBody();
    req.erase(http::field::expect);
  }
  removeHopByHop(req, rq.upgrade);
  if (rq.upgrade) req.set(http::field::connection, "upgrade");
  stripFraming(req);

  const bool from_peer_sidecar = spec.kind == ListenerSpec::Kind::inbound && !peer_identity_.empty();
  // Only hawser's inbound vouches for a client certificate: one arriving on
  // any listener is dropped (Envoy's `sanitize`), whoever sent it.
  req.erase(kXfcc);
  if (spec.kind == ListenerSpec::Kind::inbound) {
    if (!peer_identity_.empty()) {
      if (xfcc_for_ != w_.tls() || xfcc_.empty()) {  // once per connection (and certificate rotation)
        xfcc_for_ = w_.tls();
        const auto* own = xfcc_for_ ? &xfcc_for_->identity : nullptr;
        // As Envoy writes it: a URI SAN identity as URI=, a DNS one as DNS=.
        const char* kind = peer_identity_.find("://") != std::string::npos ? "URI=" : "DNS=";
        xfcc_ = (own && !own->empty() ? "By=" + *own + ";" : std::string()) + kind + peer_identity_;
      }
      req.set(kXfcc, xfcc_);
    }
  }
  // The scheme the client used: a verified peer sidecar reports its own
  // client's; anyone else gets the truth about this hop.
  if (!from_peer_sidecar) req.erase("x-forwarded-proto");
  x.request_id = applyForwardingHeaders(req, client_ip_, down_.isTls() ? "https" : "http");
  req.version(11);
}

}  // namespace hawser::http1
