#include "dataplane/upstream_pool.h"

#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "telemetry/metrics.h"

namespace hawser {
namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
constexpr auto tok = asio::as_tuple(asio::use_awaitable);

UpstreamConnection::UpstreamConnection(AnyStream s, discovery::EndpointPtr ep, telemetry::WorkerMetrics& m)
    : stream(std::move(s)), endpoint(std::move(ep)), metrics(m) {
  metrics.upstream_active.Increment();
  metrics.upstream_opened.Increment();
}

UpstreamConnection::~UpstreamConnection() {
  metrics.upstream_active.Decrement();
}

namespace {
// A pooled connection the upstream closed (EOF) or wrote to unasked is dead.
bool stillAlive(tcp::socket& s) {
  char byte;
  ssize_t n = ::recv(s.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}
}  // namespace

asio::awaitable<UpstreamPool::Result> UpstreamPool::acquire(const discovery::EndpointPtr& ep,
                                                            std::chrono::milliseconds connect_timeout,
                                                            std::chrono::milliseconds max_idle, bool fresh) {
  if (!fresh) {
    if (auto it = idle_.find(ep->key); it != idle_.end()) {
      auto& list = it->second;
      auto now = std::chrono::steady_clock::now();
      while (!list.empty()) {
        auto conn = std::move(list.back());
        list.pop_back();
        if (now - conn->idle_since < max_idle && stillAlive(conn->stream.socket())) {
          conn->reused = true;
          co_return Result{{}, std::move(conn)};
        }
      }
    }
  }
  co_return co_await connect(ep, connect_timeout);
}

asio::awaitable<UpstreamPool::Result> UpstreamPool::connect(const discovery::EndpointPtr& ep,
                                                            std::chrono::milliseconds timeout) {
  beast::tcp_stream stream(ex_);
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(ep->host, ec);
  stream.expires_after(timeout);
  if (!ec) {
    auto [cec] = co_await stream.async_connect(tcp::endpoint(addr, ep->port), tok);
    ec = cec;
  } else {
    tcp::resolver resolver(ex_);
    auto [rec, results] = co_await resolver.async_resolve(ep->host, std::to_string(ep->port), tok);
    if (rec) co_return Result{rec, nullptr};
    auto [cec, _] = co_await stream.async_connect(results, tok);
    ec = cec;
  }
  if (ec) co_return Result{ec, nullptr};
  stream.socket().set_option(tcp::no_delay(true), ec);
  co_return Result{{}, std::make_unique<UpstreamConnection>(AnyStream(std::move(stream)), ep, metrics_)};
}

void UpstreamPool::release(std::unique_ptr<UpstreamConnection> conn) {
  auto& list = idle_[conn->endpoint->key];
  if (list.size() >= kMaxIdlePerEndpoint) return;  // closes it
  conn->idle_since = std::chrono::steady_clock::now();
  conn->stream.tcp().expires_never();
  list.push_back(std::move(conn));
}

size_t UpstreamPool::idleCount() const {
  size_t n = 0;
  for (const auto& [k, v] : idle_) n += v.size();
  return n;
}

}  // namespace hawser
