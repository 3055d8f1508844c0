#include "discovery/cloudmap/http_client.h"

#include <algorithm>
#include <memory>

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/parse.hpp>

namespace hawser::discovery::cloudmap {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using asio::as_tuple;
using asio::use_awaitable;

std::string HttpResponse::header(std::string_view name) const {
  auto eq = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
  };
  for (const auto& [k, v] : headers) {
    if (eq(k, name)) return v;
  }
  return {};
}

namespace {

template <class Stream>
asio::awaitable<HttpResponse> exchange(Stream& stream, beast::tcp_stream& lowest, const HttpRequest& request,
                                       const std::string& target, const std::string& host_header) {
  HttpResponse out;
  http::request<http::string_body> req;
  req.method_string(request.method);
  req.target(target);
  req.version(11);
  bool have_host = false;
  for (const auto& [k, v] : request.headers) {
    req.insert(k, v);
    if (beast::iequals(k, "host")) have_host = true;
  }
  if (!have_host) req.set(http::field::host, host_header);
  req.set(http::field::connection, "close");
  req.body() = request.body;
  req.prepare_payload();
  (void)lowest;
  auto [wec, wn] = co_await http::async_write(stream, req, as_tuple(use_awaitable));
  if (wec) {
    out.error = "write: " + wec.message();
    co_return out;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(request.max_response_bytes);
  auto [rec, rn] = co_await http::async_read(stream, buffer, parser, as_tuple(use_awaitable));
  if (rec) {
    out.error = "read: " + rec.message();
    co_return out;
  }
  auto& res = parser.get();
  out.status = res.result_int();
  for (const auto& f : res) out.headers.emplace_back(f.name_string(), f.value());
  out.body = std::move(res.body());
  co_return out;
}

struct Transport {
  asio::any_io_executor executor;
  std::shared_ptr<asio::ssl::context> tls;

  asio::awaitable<HttpResponse> operator()(HttpRequest request) const {
    HttpResponse out;
    auto parsed = boost::urls::parse_uri(request.url);
    if (!parsed) {
      out.error = "bad url";
      co_return out;
    }
    auto url = *parsed;
    bool https = url.scheme() == "https";
    if (!https && url.scheme() != "http") {
      out.error = "unsupported scheme " + std::string(url.scheme());
      co_return out;
    }
    std::string host = url.host_type() == boost::urls::host_type::ipv6 ? url.host_ipv6_address().to_string()
                                                                       : std::string(url.encoded_host());
    std::string port = url.has_port() ? std::string(url.port()) : (https ? "443" : "80");
    std::string host_header(url.encoded_host_and_port());
    std::string target(url.encoded_resource());
    if (target.empty() || target.front() != '/') target = "/" + target;

    tcp::resolver resolver(executor);
    beast::tcp_stream stream(executor);
    stream.expires_after(request.timeout);
    auto [rec, results] = co_await resolver.async_resolve(host, port, as_tuple(use_awaitable));
    if (rec) {
      out.error = "resolve " + host + ": " + rec.message();
      co_return out;
    }
    auto [cec, ep] = co_await stream.async_connect(results, as_tuple(use_awaitable));
    if (cec) {
      out.error = "connect " + host + ":" + port + ": " + cec.message();
      co_return out;
    }
    if (!https) {
      out = co_await exchange(stream, stream, request, target, host_header);
      boost::system::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      co_return out;
    }
    beast::ssl_stream<beast::tcp_stream> tls_stream(std::move(stream), request.tls ? *request.tls : *tls);
    if (url.host_type() == boost::urls::host_type::name) {
      SSL_set_tlsext_host_name(tls_stream.native_handle(), host.c_str());
    }
    if (!request.tls) tls_stream.set_verify_callback(asio::ssl::host_name_verification(host));
    auto [hec] = co_await tls_stream.async_handshake(asio::ssl::stream_base::client, as_tuple(use_awaitable));
    if (hec) {
      out.error = "tls handshake with " + host + ": " + hec.message();
      co_return out;
    }
    if (request.check_peer) {
      if (auto problem = request.check_peer(tls_stream.native_handle()); !problem.empty()) {
        out.error = "tls peer " + host + ": " + problem;
        co_return out;
      }
    }
    out = co_await exchange(tls_stream, beast::get_lowest_layer(tls_stream), request, target, host_header);
    beast::get_lowest_layer(tls_stream).expires_after(std::chrono::seconds(1));
    co_await tls_stream.async_shutdown(as_tuple(use_awaitable));
    co_return out;
  }
};

}  // namespace

HttpTransport makeHttpTransport(asio::any_io_executor executor) {
  auto tls = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  tls->set_default_verify_paths();
  tls->set_verify_mode(asio::ssl::verify_peer);
  SSL_CTX_set_min_proto_version(tls->native_handle(), TLS1_2_VERSION);
  return Transport{std::move(executor), std::move(tls)};
}

}  // namespace hawser::discovery::cloudmap
