#include "dataplane/admin_server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "dataplane/accept_backoff.h"
#include "dataplane/admin_guard.h"
#include "dataplane/contained_spawn.h"
#include "dataplane/server.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

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

// What a browser could have been made to send is refused before routing
// (admin_guard.h); the connection then closes.
std::optional<http::response<http::string_body>> refusal(Server& server, const http::request<http::string_body>& req,
                                                         std::string_view local_ip,
                                                         std::span<prometheus::Counter* const> refused) {
  AdminRequestFacts facts;
  facts.post = req.method() == http::verb::post;
  facts.http10 = req.version() < 11;
  auto [host, host_end] = req.equal_range(http::field::host);
  for (; host != host_end; ++host) facts.hosts.push_back(host->value());
  facts.has_origin = req.find(http::field::origin) != req.end();
  if (auto it = req.find("sec-fetch-site"); it != req.end()) facts.sec_fetch_site = it->value();
  facts.has_post_header = req.find(kAdminPostHeader) != req.end();
  facts.local_ip = local_ip;
  const auto& cfg = server.config();
  auto r = checkAdminRequest(facts, cfg.admin.host, cfg.admin_allowed_hosts);
  if (!r) return std::nullopt;
  auto label = std::find(std::begin(kAdminRefusalReasons), std::end(kAdminRefusalReasons), r->reason);
  refused[static_cast<size_t>(label - std::begin(kAdminRefusalReasons))]->Increment();
  http::response<http::string_body> res{static_cast<http::status>(r->status), req.version()};
  res.set(http::field::server, "hawser");
  res.set(http::field::content_type, "text/plain");
  res.body() = std::move(r->message);
  res.keep_alive(false);
  res.prepare_payload();
  return res;
}

asio::awaitable<void> session(Server& server, tcp::socket socket, std::span<prometheus::Counter* const> refused) {
  boost::system::error_code lec;
  const auto local_ip = socket.local_endpoint(lec).address().to_string();
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buf;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(64 * 1024);
    stream.expires_after(std::chrono::seconds(30));
    auto [ec, n] = co_await http::async_read(stream, buf, parser, tok);
    if (ec) break;
    auto refused_res = refusal(server, parser.get(), local_ip, refused);
    auto res = refused_res ? std::move(*refused_res) : respond(server, parser.get());
    auto [wec, wn] = co_await http::async_write(stream, res, tok);
    if (wec || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> acceptLoop(Server& server, std::shared_ptr<tcp::acceptor> acceptor,
                                 std::span<prometheus::Counter* const> refused) {
  auto& errors = server.mainMetrics().serving_errors;
  AcceptBackoff backoff("admin", errors.accept_errors);
  while (auto socket = co_await backoff.accept(*acceptor)) {
    spawnContained(acceptor->get_executor(), session(server, std::move(*socket), refused), "admin",
                   errors.internal_errors);
  }
}

}  // namespace

AdminServer::AdminServer(asio::io_context& ctx, Server& server) : ctx_(ctx), server_(server) {
  auto& family = server.mainMetrics().admin_refused;
  for (size_t i = 0; i < refused_.size(); ++i)
    refused_[i] = &family.Add({{"reason", std::string(kAdminRefusalReasons[i])}});
}

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
  spawnContained(ctx_, acceptLoop(server_, acceptor_, refused_), "admin accept",
                 server_.mainMetrics().serving_errors.internal_errors);
}

tcp::endpoint AdminServer::endpoint() const {
  return acceptor_->local_endpoint();
}

void AdminServer::stop() {
  boost::system::error_code ignored;
  if (acceptor_) acceptor_->close(ignored);
}

}  // namespace hawser
