// One downstream HTTP/1.1 connection and the exchanges it carries. Private
// to dataplane/http: the member functions are spread over the files named
// after each step of the request path (see README.md):
//
//   http_connection.cpp    the connection loop, the request path top-down,
//                          local replies and the one completion
//   request_filters.cpp    synchronous stages: authz, rate limits, identity
//                          and forwarding headers
//   router.cpp             listener/authority -> cluster, route, timeouts
//   upstream_request.cpp   admission, the attempt loop, reading the response head
//   response_forwarder.cpp the response head and body to the client
//   tunnel.cpp             CONNECT and Upgrade
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <memory>
#include <optional>
#include <random>
#include <string>

#include "dataplane/any_stream.h"
#include "dataplane/connection_guard.h"
#include "dataplane/http/body_decoder.h"
#include "dataplane/http/exchange.h"
#include "dataplane/http/framing.h"
#include "dataplane/http/message_io.h"
#include "dataplane/http/read_ahead.h"
#include "dataplane/local_reply.h"
#include "dataplane/snapshot.h"
#include "dataplane/upstream_pool.h"
#include "policy/random.h"
#include "policy/retry_policy.h"

namespace hawser {

class Worker;

namespace http1 {

// The request as it came from the client, decided once: its head, its
// framing and the decoder of its body.
struct Request {
  RequestParser parser;
  Framing framing;
  BodyDecoder body;
  bool keep_alive = true;        // what the client asked for
  bool expect_continue = false;  // the client waits for 100 Continue before its body
  bool upgrade = false;          // Connection: upgrade with an Upgrade hawser relays
  bool buffered = false;         // the body was read whole into `replay`
  std::string replay;

  RequestHead& head() { return parser.get().base(); }
  bool hasBody() const { return framing.kind != BodyKind::none; }
  // Nothing of the body is left unread on the connection.
  bool bodyConsumed() const { return body.done(); }
};

// Where a request goes, chosen by the router.
struct RouteChoice {
  std::shared_ptr<Cluster> cluster;
  discovery::EndpointPtr fixed;         // passthrough destination
  const ClusterRoute* route = nullptr;  // the service route matched, if any
  std::optional<size_t> subset;         // the subset of that route chosen
  config::Timeouts timeouts;            // the route's or the service's
  const policy::RetryPolicy* retry = nullptr;
};

// What an exchange holds of a cluster while it uses it, each given back
// when this is destroyed: its max_requests slot, its place in the chosen
// endpoint's active requests (least_request), and a retry in flight.
class Admission {
 public:
  Admission() = default;
  Admission(Admission&& o) noexcept { *this = std::move(o); }
  Admission& operator=(Admission&& o) noexcept;
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;
  ~Admission() { release(); }

  void admitted(ClusterPolicy& p) { policy_ = &p; }
  void setEndpoint(discovery::EndpointPtr e);
  void retryStarted(bool budgeted) {
    retrying_ = true;
    budgeted_ = budgeted;
  }
  void endRetry();

 private:
  void release();
  ClusterPolicy* policy_ = nullptr;
  discovery::EndpointPtr endpoint_;
  bool retrying_ = false;
  bool budgeted_ = false;
};

// What the attempt loop leaves: a response head to forward, or a reply.
struct UpstreamResponse {
  explicit UpstreamResponse(boost::beast::flat_buffer& b) : buf(b) {}
  boost::beast::flat_buffer& buf;  // bytes read after the response head (the connection's, reused)
  Admission admission;
  std::unique_ptr<UpstreamConnection> conn;
  std::optional<ResponseParser> parser;
  Framing framing;                  // of the response body, decided from its head
  std::optional<LocalReply> reply;  // no response to forward: answer this
  bool client_gone = false;         // the client went away meanwhile
  bool retried_read_failure = false;
};

class HttpConnection {
 public:
  HttpConnection(Worker& w, boost::asio::ip::tcp::socket s, std::string key);
  boost::asio::awaitable<void> run();

 private:
  // --- http_connection.cpp ---
  const ListenerSpec* listener();
  boost::asio::awaitable<bool> serveOne();
  std::optional<bool> requestReadyNow();
  boost::asio::awaitable<bool> waitForRequest(const ListenerSpec& spec);
  // A connection idle this long gives back its buffers (the response head
  // buffer, the serialized head, the body write buffer, and, waiting for
  // readability instead of with a read pending, the read buffer and the TLS
  // input buffer); one busy with requests keeps them.
  static constexpr std::chrono::milliseconds kReleaseBuffersAfter{1000};
  void releaseIdleBuffers();
  boost::asio::awaitable<bool> readRequestStart(std::chrono::steady_clock::time_point until);
  bool headBuffered(Request& rq, boost::system::error_code& ec);
  boost::asio::awaitable<boost::system::error_code> readRequestHead(Request& rq);
  std::optional<LocalReply> decodeRequest(Exchange& x, Request& rq, boost::system::error_code ec);
  // Completes the exchange: the observers, once.
  boost::asio::awaitable<bool> localReply(Exchange& x, LocalReply r, const Request* rq);
  bool keepAliveAfterReply(const Request& rq) const;
  void complete(Exchange& x);

 public:
  // (for the completion guard)
  using CompleteFn = void (HttpConnection::*)(Exchange&);

 private:
  // --- request_filters.cpp ---
  std::optional<LocalReply> checkRequest(Exchange& x, Request& rq, const ListenerSpec& spec);
  std::optional<LocalReply> admitListener(Exchange& x, const ListenerSpec& spec);
  void rewriteRequest(Exchange& x, Request& rq, const ListenerSpec& spec);

  // --- router.cpp ---
  std::optional<LocalReply> route(Exchange& x, Request& rq, const ListenerSpec& spec, RouteChoice& out);

  // --- upstream_request.cpp ---
  boost::asio::awaitable<void> upstreamRequest(Exchange& x, Request& rq, const ListenerSpec& spec, RouteChoice& rc,
                                               UpstreamResponse& ur);
  struct SendResult;
  boost::asio::awaitable<SendResult> sendAndReadHead(Exchange& x, Request& rq, UpstreamResponse& ur,
                                                     const RouteChoice& rc);
  boost::asio::awaitable<bool> reconnect(std::unique_ptr<UpstreamConnection>& up, const config::Timeouts& t);
  void countOutboundPeer(Exchange& x, const UpstreamConnection& up, const Cluster& c, const ListenerSpec& spec);

  // --- response_forwarder.cpp ---
  boost::asio::awaitable<bool> forwardResponse(Exchange& x, Request& rq, UpstreamResponse& ur, const RouteChoice& rc);

  // --- tunnel.cpp ---
  boost::asio::awaitable<void> connectTunnel(Exchange& x, Request& rq, const ListenerSpec& spec);
  boost::asio::awaitable<void> upgradeTunnel(Exchange& x, UpstreamResponse& ur, const RouteChoice& rc);

  BodyLimits requestBodyLimits() const;
  BodyLimits responseBodyLimits() const;

  Worker& w_;
  AnyStream down_;
  ConnectionGuard guard_;
  std::string key_;
  std::string client_ip_;
  boost::beast::flat_buffer buf_;  // downstream bytes read ahead (pipelined requests, body bytes)
  std::shared_ptr<const Snapshot> snap_;
  std::shared_ptr<const ExchangeObservers> observers_;
  const ListenerSpec* spec_ = nullptr;
  std::string head_;           // a serialized head (and small body), reused by every exchange
  std::string out_;            // what one body write sends (framing included), reused
  std::string peer_identity_;  // verified client identity (inbound TLS)
  std::string xfcc_;           // the XFCC value for it, made for xfcc_for_
  std::shared_ptr<const TlsState> xfcc_for_;
  telemetry::RequestStats* peer_stats_ = nullptr;  // inbound series labelled with that identity
  std::optional<UpstreamTls> up_tls_;              // for up_tls_cluster_, made from up_tls_state_
  std::shared_ptr<Cluster> up_tls_cluster_;
  std::shared_ptr<const TlsState> up_tls_state_;
  void useUpstreamTls(const std::shared_ptr<Cluster>& c);
  std::optional<std::chrono::seconds> retry_after_;  // for a 429 being sent
  std::string outbound_peer_;                        // cache of the last outbound peer's series
  telemetry::RequestStats* outbound_peer_stats_ = nullptr;
  telemetry::RequestStats* unrouted_stats_ = nullptr;  // requests no service took (service="unrouted")
  telemetry::RequestStats* unroutedStats();
  // While an exchange waits for its upstream, the client's next read is
  // already outstanding: a client that closes its connection meanwhile
  // cancels the wait (its request is abandoned).
  ReadAhead read_ahead_{down_.get_executor()};
  boost::beast::flat_buffer up_buf_;  // upstream bytes after a response head; empty between exchanges
};

// Splits "host[:port]" (with [v6] support). Port 0 when absent.
bool splitAuthority(std::string_view auth, std::string& host, uint16_t& port);

// At most this many informational (1xx) responses per exchange; more is a
// misbehaving upstream (502).
inline constexpr unsigned kMaxInformational = 16;
// The largest response head accepted from an upstream.
inline constexpr size_t kMaxResponseHead = 256 * 1024;

}  // namespace http1
}  // namespace hawser
