// A connection that is plain TCP or TLS over TCP, decided at run time, so the
// HTTP session, the pools and splice() are written once for both.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <memory>
#include <variant>

namespace hawser {

class AnyStream {
 public:
  using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;
  using executor_type = boost::beast::tcp_stream::executor_type;

  explicit AnyStream(boost::beast::tcp_stream s) : v_(std::move(s)) {}
  // Wraps `s` in TLS; the connection keeps `ctx` alive (a reload may replace it).
  AnyStream(boost::beast::tcp_stream s, std::shared_ptr<boost::asio::ssl::context> ctx)
      : v_(std::in_place_type<TlsStream>, std::move(s), *ctx), ctx_(std::move(ctx)) {}

  executor_type get_executor() { return tcp().get_executor(); }
  boost::beast::tcp_stream& tcp() { return v_.index() == 0 ? std::get<0>(v_) : std::get<1>(v_).next_layer(); }
  boost::asio::ip::tcp::socket& socket() { return tcp().socket(); }
  TlsStream* tls() { return std::get_if<TlsStream>(&v_); }
  // Wraps the plain connection in TLS (before any TLS byte is exchanged).
  void upgradeToTls(std::shared_ptr<boost::asio::ssl::context> ctx) {
    boost::beast::tcp_stream plain(std::move(std::get<0>(v_)));
    v_.emplace<TlsStream>(std::move(plain), *ctx);
    ctx_ = std::move(ctx);
  }
  bool isTls() const { return v_.index() == 1; }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return std::visit([&](auto& s) { return s.async_read_some(buffers, std::forward<Token>(token)); }, v_);
  }
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return std::visit([&](auto& s) { return s.async_write_some(buffers, std::forward<Token>(token)); }, v_);
  }

 private:
  std::variant<boost::beast::tcp_stream, TlsStream> v_;
  std::shared_ptr<boost::asio::ssl::context> ctx_;
};

}  // namespace hawser
