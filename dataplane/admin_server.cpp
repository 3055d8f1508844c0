#include "dataplane/admin_server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "dataplane/accept_backoff.h"
#include "dataplane/admin_guard.h"
#include "dataplane/contained_spawn.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace hawser {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto tok = asio::as_tuple(asio::use_awaitable);

namespace {

http::response<http::string_body> respond(AdminSite& site, const http::request<http::string_body>& req) {
  http::response<http::string_body> res{http::status::ok, req.version()};
  res.set(http::field::server, "hawser");
  std::string_view target = req.target();
  auto path = target.substr(0, target.find('?'));
  const auto verb = req.method();
  std::optional<AdminResponse> r;
  if (verb == http::verb::get || verb == http::verb::head || verb == http::verb::post) {
    r = site.serveAdmin(verb == http::verb::post ? "POST" : verb == http::verb::head ? "HEAD" : "GET", path);
  } else if (site.serveAdmin("GET", path)) {  // the path exists
    r = adminMethodNotAllowed();
  }
  if (!r) r = AdminResponse{404, "text/plain", "not found; endpoints: " + site.adminEndpoints() + "\n"};
  res.result(static_cast<http::status>(r->status));
  res.set(http::field::content_type, r->content_type);
  res.body() = std::move(r->body);
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  if (verb == http::verb::head) res.body().clear();  // Content-Length stays that of GET
  return res;
}

// What a browser could have been made to send is refused before routing
// (admin_guard.h); the connection then closes.
std::optional<http::response<http::string_body>> refusal(AdminSite& site, const http::request<http::string_body>& req,
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
  auto r = checkAdminRequest(facts, site.adminHost(), site.adminAllowedHosts());
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

asio::awaitable<void> session(AdminSite& site, tcp::socket socket, std::span<prometheus::Counter* const> refused) {
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
    auto refused_res = refusal(site, parser.get(), local_ip, refused);
    auto res = refused_res ? std::move(*refused_res) : respond(site, parser.get());
    auto [wec, wn] = co_await http::async_write(stream, res, tok);
    if (wec || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> acceptLoop(AdminSite& site, std::shared_ptr<tcp::acceptor> acceptor,
                                 std::span<prometheus::Counter* const> refused, telemetry::ServingErrors& errors) {
  AcceptBackoff backoff("admin", errors.accept_errors);
  while (auto socket = co_await backoff.accept(*acceptor)) {
    spawnContained(acceptor->get_executor(), session(site, std::move(*socket), refused), "admin",
                   errors.internal_errors);
  }
}

}  // namespace

AdminResponse adminMethodNotAllowed() {
  return {405, "text/plain", "method not allowed\n"};
}

AdminResponse adminJson(std::string body, unsigned status) {
  return {status, "application/json", std::move(body)};
}

AdminServer::AdminServer(asio::io_context& ctx, AdminSite& site, prometheus::Family<prometheus::Counter>& refused,
                         telemetry::ServingErrors& errors)
    : ctx_(ctx), site_(site), errors_(errors) {
  for (size_t i = 0; i < refused_.size(); ++i)
    refused_[i] = &refused.Add({{"reason", std::string(kAdminRefusalReasons[i])}});
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
  spawnContained(ctx_, acceptLoop(site_, acceptor_, refused_, errors_), "admin accept", errors_.internal_errors);
}

tcp::endpoint AdminServer::endpoint() const {
  return acceptor_->local_endpoint();
}

void AdminServer::stop() {
  boost::system::error_code ignored;
  if (acceptor_) acceptor_->close(ignored);
}

}  // namespace hawser
