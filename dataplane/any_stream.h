// A connection that is plain TCP or TLS over TCP, decided at run time, so the
// HTTP session, the pools and splice() are written once for both.
//
// Two things Beast's tcp_stream + ssl_stream did per operation are done here
// per connection instead (issue 13):
//
// - TLS runs OpenSSL on the connection's own buffers through a small BIO:
//   records are read off the socket into `in`, OpenSSL decrypts straight
//   from it, and what SSL_write produces is sent with one send. (Asio's
//   ssl::stream keeps two 17 KiB buffers and a BIO pair per connection, and
//   runs a state machine of copies around every record.)
// - Deadlines per connection, watched by one lazily armed timer. Setting a
//   deadline stores a time that the operations started after it keep (a
//   pending one keeps the deadline it started with, as with Beast); the timer
//   is re-armed only when an operation's deadline is earlier than the one it
//   waits for, so a request on a kept-alive connection arms no timer at all.
//   When an operation is pending at its deadline the socket is closed and
//   the operation ends with beast::error::timeout; an operation started after
//   its deadline times out at once (Beast's rule, kept).
//
// Error codes are Asio's: asio::error::eof for a TLS close_notify (and a TCP
// close on plaintext), asio::ssl::error::stream_truncated for a TCP close
// without close_notify, OpenSSL errors in asio::error::get_ssl_category().
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/associator.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace hawser {

namespace transport {
using Clock = std::chrono::steady_clock;
using tcp = boost::asio::ip::tcp;
using boost::system::error_code;

// The largest TLS record (16 KiB of plaintext plus its overhead) and the
// most one write puts into one record.
constexpr size_t kMaxRecord = 16 * 1024 + 512;
constexpr size_t kMaxPlainPerWrite = 16 * 1024;

// The state of one connection. Heap-allocated once per connection and shared
// with its pending operations' handlers, so a handler that runs after the
// AnyStream is gone (destroyed or moved) still finds it.
struct Conn {
  explicit Conn(tcp::socket s);
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  tcp::socket socket;

  // --- deadline
  // For the operations started from now on (Beast's rule: setting it does
  // not change an operation already pending, which keeps its own).
  Clock::time_point deadline = Clock::time_point::max();
  Clock::time_point read_until = Clock::time_point::max();   // the pending read's
  Clock::time_point write_until = Clock::time_point::max();  // the pending write's
  std::unique_ptr<boost::asio::steady_timer> timer;          // made on the first deadline
  Clock::time_point armed_at = Clock::time_point::max();     // max: not waiting
  bool timed_out = false;
  bool reading = false;
  bool writing = false;
  // Before a socket operation: false (and `ec` set) when its deadline has
  // already passed; otherwise arms the watch when the deadline is earlier
  // than what it waits for.
  bool startOp(bool write, error_code& ec, const std::shared_ptr<Conn>& self);
  // Gives the pending read (if any) the deadline `until` from now on.
  void limitPendingRead(Clock::time_point until, const std::shared_ptr<Conn>& self);
  void arm(Clock::time_point until, const std::shared_ptr<Conn>& self);
  void endOp(bool write, error_code& ec) {
    (write ? writing : reading) = false;
    if (ec && timed_out) ec = boost::beast::error::timeout;
  }
  void close();

  // --- TLS (ssl == nullptr: plaintext)
  std::shared_ptr<boost::asio::ssl::context> ctx;  // a reload may replace the worker's
  SSL* ssl = nullptr;
  // Bytes read off the socket that OpenSSL has not taken yet: [in_begin, in_end).
  std::unique_ptr<char[]> in;
  size_t in_cap = 0, in_begin = 0, in_end = 0;
  bool in_eof = false;  // the socket said EOF
  // Records OpenSSL produced that are not sent yet; `sending` is the batch on
  // the wire (the read path may add to `out` meanwhile: a KeyUpdate reply).
  std::string out, sending;
  std::string scratch;  // several small buffers become one record
  void startTls(std::shared_ptr<boost::asio::ssl::context> c);
  // Free space at the end of `in` for one socket read (compacts, grows).
  boost::asio::mutable_buffer inSpace();
  void inCommit(size_t n) { in_end += n; }
  void releaseIn() {
    if (reading || in_end > in_begin) return;
    in.reset();
    in_cap = in_begin = in_end = 0;
  }
  // Gives OpenSSL `n` bytes the caller read before TLS began (a ClientHello).
  void inAppend(const void* p, size_t n);
  // One SSL_read / SSL_write / SSL_do_handshake. `want_read`: OpenSSL needs
  // more bytes from the socket; otherwise the call finished (`ec` says how).
  size_t tlsRead(void* p, size_t n, bool& want_read, error_code& ec);
  size_t tlsWrite(const void* p, size_t n, error_code& ec);
  void tlsHandshake(bool& want_read, error_code& ec);
  error_code tlsError(int ret);
  // Non-blocking sends of what is ready (AnyStream::writeNow).
  bool sendNow(const char* p, size_t n, size_t& sent, error_code& ec);
  bool writeNow(const char* p, size_t n, size_t& taken, error_code& ec);
};
}  // namespace transport

class AnyStream {
 public:
  using executor_type = boost::asio::any_io_executor;
  using Clock = transport::Clock;
  enum class Role { client, server };

  explicit AnyStream(boost::asio::ip::tcp::socket s);
  explicit AnyStream(const executor_type& ex);  // not connected yet
  AnyStream(AnyStream&&) noexcept = default;
  AnyStream& operator=(AnyStream&& o) noexcept {
    if (this != &o) {
      if (c_) c_->close();  // pending operations end; their handlers hold the state
      c_ = std::move(o.c_);
    }
    return *this;
  }
  ~AnyStream();

  executor_type get_executor() { return c_->socket.get_executor(); }
  boost::asio::ip::tcp::socket& socket() { return c_->socket; }
  // Wraps the plain connection in TLS (before any TLS byte is exchanged).
  void upgradeToTls(std::shared_ptr<boost::asio::ssl::context> ctx) { c_->startTls(std::move(ctx)); }
  bool isTls() const { return c_->ssl != nullptr; }
  SSL* ssl() const { return c_->ssl; }
  // Bytes TLS already took off the socket that the reader has not seen.
  bool tlsBuffered() const { return c_->ssl && (SSL_pending(c_->ssl) > 0 || c_->in_end > c_->in_begin); }

  // The deadline of the operations started from now on (a pending one keeps
  // the deadline it started with).
  void expires_at(Clock::time_point t) { c_->deadline = t; }
  void expires_after(Clock::duration d) { c_->deadline = Clock::now() + d; }
  void expires_never() { c_->deadline = Clock::time_point::max(); }
  // A read already pending (started without a deadline) ends with timeout at
  // `until`; the stream's deadline for new operations becomes `until` too.
  void limitPendingRead(Clock::time_point until) {
    c_->deadline = until;
    c_->limitPendingRead(until, c_);
  }
  void close() { c_->close(); }
  // With no operation pending: frees the TLS input buffer if it holds nothing
  // (the next read makes it again).
  void releaseIdleBuffers() { c_->releaseIn(); }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token);
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token);
  // The fast path of a write: what the socket takes now, without an
  // asynchronous operation (no handler queued, no trip through the
  // io_context). True when every byte went out. Otherwise `taken` says how
  // much of `data` is done: plaintext sent, or with TLS, all of it made into
  // records of which some still wait in the connection (async_flush sends
  // them); the caller writes `data` from `taken` (async_write), then flushes.
  // Nothing is taken while another write is in progress.
  bool writeNow(std::string_view data, size_t& taken, boost::system::error_code& ec) {
    return c_->writeNow(data.data(), data.size(), taken, ec);
  }
  // Sends the TLS records a writeNow left. Completes with (error_code).
  template <class Token>
  auto async_flush(Token&& token);
  // TCP connect under the deadline. Completes with (error_code).
  template <class Token>
  auto async_connect(const boost::asio::ip::tcp::endpoint& ep, Token&& token);
  // Until the socket is readable (or at EOF), under the deadline; holds no
  // buffer while it waits. Completes with (error_code).
  template <class Token>
  auto async_wait_readable(Token&& token);
  // The TLS handshake; `initial` are bytes already read (a ClientHello).
  // Completes with (error_code).
  template <class Token>
  auto async_handshake(Role role, boost::asio::const_buffer initial, Token&& token);

 private:
  std::shared_ptr<transport::Conn> c_;
};

// ---------------------------------------------------------------- internals

namespace transport {

// Completes a socket operation of `conn`: ends it for the deadline watch
// (mapping an abort by the watch to beast::error::timeout), then calls `h`.
template <class Handler>
struct Timed {
  std::shared_ptr<Conn> conn;
  bool write;
  Handler h;
  void operator()(error_code ec, size_t n = 0) {
    conn->endOp(write, ec);
    h(ec, n);
  }
};

// Completion without I/O must not run inside the initiating call: posted to
// the handler's executor.
template <class Handler, class... Args>
void postNow(const boost::asio::any_io_executor& ex, Handler&& h, Args... args) {
  auto hex = boost::asio::get_associated_executor(h, ex);
  boost::asio::post(hex, [h = std::forward<Handler>(h), args...]() mutable { h(args...); });
}

template <class Handler, class Buffers>
void readSome(const std::shared_ptr<Conn>& c, const Buffers& b, Handler&& h) {
  error_code ec;
  if (!c->startOp(false, ec, c)) return postNow(c->socket.get_executor(), std::forward<Handler>(h), ec, size_t{0});
  c->socket.async_read_some(b, Timed<std::decay_t<Handler>>{c, false, std::forward<Handler>(h)});
}

template <class Handler, class Buffers>
void writeSome(const std::shared_ptr<Conn>& c, const Buffers& b, Handler&& h) {
  error_code ec;
  if (!c->startOp(true, ec, c)) return postNow(c->socket.get_executor(), std::forward<Handler>(h), ec, size_t{0});
  c->socket.async_write_some(b, Timed<std::decay_t<Handler>>{c, true, std::forward<Handler>(h)});
}

// The common tail of the TLS operations: sends `out` (all of it, and what
// was added while sending), then calls the operation's flushed().
template <class Op>
struct Flush {
  Op op;
  void start() {
    auto& c = *op.conn;
    if (c.out.empty()) return op.flushed({});
    c.sending.swap(c.out);
    c.out.clear();
    op.sent = 0;
    writeSome(op.conn, boost::asio::buffer(c.sending), std::move(*this));
  }
  void operator()(error_code ec, size_t n) {
    auto& c = *op.conn;
    if (ec) return op.flushed(ec);
    op.sent += n;
    if (op.sent < c.sending.size()) {
      return writeSome(op.conn, boost::asio::buffer(c.sending.data() + op.sent, c.sending.size() - op.sent),
                       std::move(*this));
    }
    c.sending.clear();
    if (c.sending.capacity() > 2048) std::string().swap(c.sending);  // idle connections keep little
    start();
  }
};

template <class MutableBuffers, class Handler>
struct TlsRead {
  TlsRead(std::shared_ptr<Conn> c, const MutableBuffers& b, Handler&& handler)
      : conn(std::move(c)), buffers(b), h(std::move(handler)) {}
  std::shared_ptr<Conn> conn;
  MutableBuffers buffers;
  Handler h;
  void start(bool first) {
    auto b = boost::asio::buffer_sequence_begin(buffers);
    boost::asio::mutable_buffer target =
        b == boost::asio::buffer_sequence_end(buffers) ? boost::asio::mutable_buffer() : *b;
    if (target.size() == 0) return finish(first, {}, 0);
    bool want_read = false;
    error_code ec;
    size_t n = conn->tlsRead(target.data(), target.size(), want_read, ec);
    if (!want_read) return finish(first, ec, n);
    if (conn->in_eof) return finish(first, boost::asio::ssl::error::stream_truncated, 0);
    readSome(conn, conn->inSpace(), std::move(*this));
  }
  void operator()(error_code ec, size_t n) {
    if (ec == boost::asio::error::eof) {
      conn->in_eof = true;  // OpenSSL decides: close_notify seen or truncated
      ec = {};
    }
    if (ec) return h(ec, size_t{0});
    conn->inCommit(n);
    start(false);
  }
  void finish(bool first, error_code ec, size_t n) {
    if (first) return postNow(conn->socket.get_executor(), std::move(h), ec, n);
    h(ec, n);
  }
};

template <class Handler>
struct TlsWrite {
  TlsWrite(std::shared_ptr<Conn> c, Handler&& handler) : conn(std::move(c)), h(std::move(handler)) {}
  std::shared_ptr<Conn> conn;
  Handler h;
  size_t plain = 0;  // plaintext bytes taken
  size_t sent = 0;
  void flushed(error_code ec) { h(ec, ec ? size_t{0} : plain); }
};

template <class Handler>
struct TlsHandshake {
  TlsHandshake(std::shared_ptr<Conn> c, Handler&& handler) : conn(std::move(c)), h(std::move(handler)) {}
  std::shared_ptr<Conn> conn;
  Handler h;
  size_t sent = 0;
  bool done = false;
  bool first = true;
  error_code failure;  // OpenSSL refused: its alert is sent, then this is the result
  void start() {
    bool want_read = false;
    conn->tlsHandshake(want_read, failure);
    done = !want_read;
    Flush<TlsHandshake>{std::move(*this)}.start();
  }
  void flushed(error_code ec) {
    if (failure) return finish(failure);
    if (ec || done) return finish(ec);
    if (conn->in_eof) return finish(boost::asio::ssl::error::stream_truncated);
    readSome(conn, conn->inSpace(), std::move(*this));
  }
  void operator()(error_code ec, size_t n) {  // bytes read
    first = false;
    if (ec == boost::asio::error::eof) {
      conn->in_eof = true;
      ec = {};
    }
    if (ec) return h(ec);
    conn->inCommit(n);
    start();
  }
  void finish(error_code ec) {
    if (first) return postNow(conn->socket.get_executor(), std::move(h), ec);
    h(ec);
  }
};

// Sends what writeNow left in `out`.
template <class Handler>
struct FlushOnly {
  std::shared_ptr<Conn> conn;
  Handler h;
  size_t sent = 0;
  void flushed(error_code ec) { h(ec); }
};

// An operation that completes with an error code only (connect, wait).
template <class Handler>
struct Connect {
  std::shared_ptr<Conn> conn;
  Handler h;
  void operator()(error_code ec, size_t = 0) { h(ec); }
};

}  // namespace transport

template <class MutableBuffers, class Token>
auto AnyStream::async_read_some(const MutableBuffers& buffers, Token&& token) {
  return boost::asio::async_initiate<Token, void(boost::system::error_code, size_t)>(
      [](auto handler, std::shared_ptr<transport::Conn> c, const MutableBuffers& b) {
        if (!c->ssl) return transport::readSome(c, b, std::move(handler));
        transport::TlsRead<MutableBuffers, decltype(handler)>{c, b, std::move(handler)}.start(true);
      },
      token, c_, buffers);
}

template <class ConstBuffers, class Token>
auto AnyStream::async_write_some(const ConstBuffers& buffers, Token&& token) {
  return boost::asio::async_initiate<Token, void(boost::system::error_code, size_t)>(
      [](auto handler, std::shared_ptr<transport::Conn> c, const ConstBuffers& b) {
        if (!c->ssl) return transport::writeSome(c, b, std::move(handler));
        // One record from the first buffer, or from several small ones
        // copied together (the serializer's many short fields).
        auto it = boost::asio::buffer_sequence_begin(b);
        auto end = boost::asio::buffer_sequence_end(b);
        boost::asio::const_buffer one = it == end ? boost::asio::const_buffer() : *it;
        if (it != end && std::next(it) != end && one.size() < transport::kMaxPlainPerWrite) {
          c->scratch.clear();
          for (; it != end && c->scratch.size() < transport::kMaxPlainPerWrite; ++it) {
            boost::asio::const_buffer piece = *it;
            const size_t take = std::min(piece.size(), transport::kMaxPlainPerWrite - c->scratch.size());
            c->scratch.append(static_cast<const char*>(piece.data()), take);
          }
          one = boost::asio::buffer(c->scratch);
        }
        if (one.size() > transport::kMaxPlainPerWrite)
          one = boost::asio::buffer(one.data(), transport::kMaxPlainPerWrite);
        transport::TlsWrite<decltype(handler)> op{c, std::move(handler)};
        boost::system::error_code ec;
        op.plain = one.size() == 0 ? 0 : c->tlsWrite(one.data(), one.size(), ec);
        if (c->scratch.capacity() > 2048) std::string().swap(c->scratch);
        if (ec) return transport::postNow(c->socket.get_executor(), std::move(op.h), ec, size_t{0});
        if (c->out.empty() && one.size() == 0)
          return transport::postNow(c->socket.get_executor(), std::move(op.h), ec, size_t{0});
        transport::Flush<decltype(op)>{std::move(op)}.start();
      },
      token, c_, buffers);
}

template <class Token>
auto AnyStream::async_flush(Token&& token) {
  return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
      [](auto handler, std::shared_ptr<transport::Conn> c) {
        if (c->out.empty()) {
          return transport::postNow(c->socket.get_executor(), std::move(handler), boost::system::error_code{});
        }
        transport::Flush<transport::FlushOnly<decltype(handler)>>{{c, std::move(handler)}}.start();
      },
      token, c_);
}

template <class Token>
auto AnyStream::async_connect(const boost::asio::ip::tcp::endpoint& ep, Token&& token) {
  return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
      [](auto handler, std::shared_ptr<transport::Conn> c, boost::asio::ip::tcp::endpoint e) {
        boost::system::error_code ec;
        if (!c->startOp(true, ec, c)) return transport::postNow(c->socket.get_executor(), std::move(handler), ec);
        c->socket.async_connect(
            e, transport::Timed<transport::Connect<decltype(handler)>>{c, true, {c, std::move(handler)}});
      },
      token, c_, ep);
}

template <class Token>
auto AnyStream::async_wait_readable(Token&& token) {
  return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
      [](auto handler, std::shared_ptr<transport::Conn> c) {
        boost::system::error_code ec;
        if (!c->startOp(false, ec, c)) return transport::postNow(c->socket.get_executor(), std::move(handler), ec);
        c->socket.async_wait(
            boost::asio::socket_base::wait_read,
            transport::Timed<transport::Connect<decltype(handler)>>{c, false, {c, std::move(handler)}});
      },
      token, c_);
}

template <class Token>
auto AnyStream::async_handshake(Role role, boost::asio::const_buffer initial, Token&& token) {
  return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
      [](auto handler, std::shared_ptr<transport::Conn> c, Role r, boost::asio::const_buffer first) {
        if (r == Role::server)
          SSL_set_accept_state(c->ssl);
        else
          SSL_set_connect_state(c->ssl);
        c->inAppend(first.data(), first.size());
        transport::TlsHandshake<decltype(handler)>{c, std::move(handler)}.start();
      },
      token, c_, role, initial);
}

}  // namespace hawser

// The operations' handlers keep the associations of the handler they wrap
// (executor, allocator, cancellation slot), as Asio's own operations do.
#define HAWSER_UNPAREN(...) __VA_ARGS__
#define HAWSER_FORWARD_ASSOCIATIONS(PARAMS, TYPE, INNER, MEMBER)                                     \
  template <template <typename, typename> class Associator, HAWSER_UNPAREN PARAMS, typename Default> \
  struct associator<Associator, HAWSER_UNPAREN TYPE, Default> {                                      \
    using type = typename Associator<INNER, Default>::type;                                          \
    static type get(const HAWSER_UNPAREN TYPE& t, const Default& d = Default()) noexcept {           \
      return Associator<INNER, Default>::get(t.MEMBER, d);                                           \
    }                                                                                                \
  };
namespace boost::asio {
HAWSER_FORWARD_ASSOCIATIONS((typename H), (hawser::transport::Timed<H>), H, h)
HAWSER_FORWARD_ASSOCIATIONS((typename H), (hawser::transport::Connect<H>), H, h)
HAWSER_FORWARD_ASSOCIATIONS((typename Op), (hawser::transport::Flush<Op>), decltype(Op::h), op.h)
HAWSER_FORWARD_ASSOCIATIONS((typename B, typename H), (hawser::transport::TlsRead<B, H>), H, h)
HAWSER_FORWARD_ASSOCIATIONS((typename H), (hawser::transport::TlsHandshake<H>), H, h)
HAWSER_FORWARD_ASSOCIATIONS((typename H), (hawser::transport::FlushOnly<H>), H, h)
}  // namespace boost::asio
#undef HAWSER_FORWARD_ASSOCIATIONS
#undef HAWSER_UNPAREN
