#include "dataplane/admin_server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "dataplane/server.h"
#include "telemetry/log.h"

namespace hawser {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto tok = asio::as_tuple(asio::use_awaitable);

namespace {

http::response<http::string_body> respond(Server& server, const http::request<http::string_body>& req) {
  http::response<http::string_body> res{http::status::ok, req.version()};
  res.set(http::field::server, "hawser");
  auto reply = [&](http::status status, std::string_view type, std::string body) {
    res.result(status);
    res.set(http::field::content_type, type);
    res.body() = std::move(body);
  };
  std::string_view target = req.target();
  auto path = target.substr(0, target.find('?'));
  const bool get = req.method() == http::verb::get || req.method() == http::verb::head;
  const bool post = req.method() == http::verb::post;
  auto json = std::string_view("application/json");

  if (path == "/ready" && get) {
    if (server.ready())
      reply(http::status::ok, "text/plain", "ready\n");
    else
      reply(http::status::service_unavailable, "text/plain",
            server.state() == Server::State::draining ? "draining\n" : "not ready\n");
  } else if (path == "/server_info" && get) {
    const char* state = server.state() == Server::State::live       ? "LIVE"
                        : server.state() == Server::State::draining ? "DRAINING"
                                                                    : "PRE_INITIALIZING";
    boost::json::object o;
    o["state"] = state;
    o["version"] = HAWSER_VERSION;
    o["uptime_seconds"] = server.uptimeSeconds();
    o["registration"] = server.registrationState();
    reply(http::status::ok, json, boost::json::serialize(o) + "\n");
  } else if (path == server.metricsPath() && get && !server.metricsEnabled()) {
    reply(http::status::not_found, "text/plain", "metrics are disabled (telemetry.metrics.enabled: false)\n");
  } else if (path == server.metricsPath() && get) {
    reply(http::status::ok, "text/plain; version=0.0.4; charset=utf-8", server.metricsText());
  } else if (path == "/config_dump" && get) {
    reply(http::status::ok, json, server.configDumpJson());
  } else if (path == "/clusters" && get) {
    reply(http::status::ok, json, server.clustersJson());
  } else if (path == "/certs" && get) {
    reply(http::status::ok, json, server.certsJson());
  } else if (path == "/listeners" && get) {
    reply(http::status::ok, json, server.listenersJson());
  } else if (path == "/drain" && post) {
    server.drain();
    reply(http::status::ok, json, "{\"state\":\"DRAINING\"}\n");
  } else if (path == "/reload" && post) {
    auto error = server.reload();
    boost::json::object o;
    o["result"] = error.empty() ? "success" : "failure";
    if (!error.empty()) o["error"] = error;
    reply(error.empty() ? http::status::ok : http::status::bad_request, json, boost::json::serialize(o) + "\n");
  } else if (path == "/ready" || path == "/server_info" || path == "/config_dump" || path == "/clusters" ||
             path == "/listeners" || path == "/certs" || path == "/drain" || path == "/reload" ||
             path == server.metricsPath()) {
    reply(http::status::method_not_allowed, "text/plain", "method not allowed\n");
  } else {
    reply(http::status::not_found, "text/plain",
          "not found; endpoints: /ready /server_info /metrics /config_dump /clusters /listeners "
          "POST /drain POST /reload\n");
  }
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  if (req.method() == http::verb::head) res.body().clear();  // Content-Length stays that of GET
  return res;
}

asio::awaitable<void> session(Server& server, tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buf;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(64 * 1024);
    stream.expires_after(std::chrono::seconds(30));
    auto [ec, n] = co_await http::async_read(stream, buf, parser, tok);
    if (ec) break;
    auto res = respond(server, parser.get());
    auto [wec, wn] = co_await http::async_write(stream, res, tok);
    if (wec || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> acceptLoop(Server& server, std::shared_ptr<tcp::acceptor> acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor->async_accept(tok);
    if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
    if (ec) continue;
    asio::co_spawn(acceptor->get_executor(), session(server, std::move(socket)), asio::detached);
  }
}

}  // namespace

AdminServer::AdminServer(asio::io_context& ctx, Server& server) : ctx_(ctx), server_(server) {}

void AdminServer::listen(const tcp::endpoint& ep) {
  acceptor_ = std::make_shared<tcp::acceptor>(ctx_);
  boost::system::error_code ec;
  acceptor_->open(ep.protocol(), ec);
  if (!ec) acceptor_->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_->bind(ep, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("admin: cannot listen on " + ep.address().to_string() + ":" + std::to_string(ep.port()) +
                             ": " + ec.message());
  }
  asio::co_spawn(ctx_, acceptLoop(server_, acceptor_), asio::detached);
}

tcp::endpoint AdminServer::endpoint() const {
  return acceptor_->local_endpoint();
}

void AdminServer::stop() {
  boost::system::error_code ignored;
  if (acceptor_) acceptor_->close(ignored);
}

}  // namespace hawser
