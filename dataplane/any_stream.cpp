#include "dataplane/any_stream.h"

#include <openssl/bio.h>
#include <openssl/err.h>

#include <algorithm>

namespace hawser {
namespace transport {
namespace asio = boost::asio;

namespace {
// The first socket read of a TLS connection asks for this much; a read that
// fills it makes the next ones as large as a whole record.
constexpr size_t kFirstRead = 4096;

// The BIO OpenSSL reads records from and writes records to: the
// connection's `in` and `out`, no copies through a second buffer.
int bioWrite(BIO* b, const char* data, size_t n, size_t* written) {
  auto* c = static_cast<Conn*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  c->out.append(data, n);
  *written = n;
  return 1;
}

int bioRead(BIO* b, char* data, size_t n, size_t* read) {
  auto* c = static_cast<Conn*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  const size_t have = c->in_end - c->in_begin;
  if (have == 0) {
    *read = 0;
    if (!c->in_eof) BIO_set_retry_read(b);
    return 0;
  }
  const size_t take = std::min(have, n);
  std::memcpy(data, c->in.get() + c->in_begin, take);
  c->in_begin += take;
  if (c->in_begin == c->in_end) c->in_begin = c->in_end = 0;
  *read = take;
  return 1;
}

long bioCtrl(BIO* b, int cmd, long, void*) {
  auto* c = static_cast<Conn*>(BIO_get_data(b));
  switch (cmd) {
    case BIO_CTRL_FLUSH: return 1;
    case BIO_CTRL_PENDING: return static_cast<long>(c->in_end - c->in_begin);
    case BIO_CTRL_WPENDING: return 0;  // `out` counts as written
    case BIO_CTRL_EOF: return c->in_eof && c->in_end == c->in_begin;
    default: return 0;
  }
}

int bioCreate(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

int bioDestroy(BIO*) {
  return 1;
}

BIO_METHOD* connMethod() {
  static BIO_METHOD* m = [] {
    BIO_METHOD* method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "hawser connection");
    BIO_meth_set_write_ex(method, bioWrite);
    BIO_meth_set_read_ex(method, bioRead);
    BIO_meth_set_ctrl(method, bioCtrl);
    BIO_meth_set_create(method, bioCreate);
    BIO_meth_set_destroy(method, bioDestroy);
    return method;
  }();
  return m;
}
}  // namespace

Conn::Conn(tcp::socket s) : socket(std::move(s)) {}

Conn::~Conn() {
  if (ssl) SSL_free(ssl);  // frees the BIO too
}

void Conn::close() {
  error_code ignored;
  socket.close(ignored);
}

bool Conn::startOp(bool write, error_code& ec, const std::shared_ptr<Conn>& self) {
  const auto until = deadline;
  if (timed_out || (until != Clock::time_point::max() && until <= Clock::now())) {
    if (!timed_out) {
      timed_out = true;
      close();
    }
    ec = boost::beast::error::timeout;
    return false;
  }
  (write ? writing : reading) = true;
  (write ? write_until : read_until) = until;
  arm(until, self);
  return true;
}

void Conn::limitPendingRead(Clock::time_point until, const std::shared_ptr<Conn>& self) {
  if (!reading) return;
  read_until = until;
  arm(until, self);
}

void Conn::arm(Clock::time_point until, const std::shared_ptr<Conn>& self) {
  if (until == Clock::time_point::max() || armed_at <= until) return;  // the watch wakes in time
  if (!timer) timer = std::make_unique<asio::steady_timer>(socket.get_executor());
  armed_at = until;
  timer->expires_at(until);  // a wait already pending ends with operation_aborted
  struct Watch {
    std::weak_ptr<Conn> conn;
    void operator()(error_code ec) const {
      auto c = conn.lock();
      if (!c || ec) return;  // re-armed (a newer Watch is waiting), or gone
      c->armed_at = Clock::time_point::max();
      const auto now = Clock::now();
      if ((c->reading && c->read_until <= now) || (c->writing && c->write_until <= now)) {
        c->timed_out = true;  // the pending operations end with timeout
        c->close();
        return;
      }
      const auto next = std::min(c->reading ? c->read_until : Clock::time_point::max(),
                                 c->writing ? c->write_until : Clock::time_point::max());
      if (next == Clock::time_point::max()) return;  // the next timed operation arms it again
      c->armed_at = next;
      c->timer->expires_at(next);
      c->timer->async_wait(Watch{c});
    }
  };
  timer->async_wait(Watch{self});
}

void Conn::startTls(std::shared_ptr<asio::ssl::context> c) {
  ctx = std::move(c);
  ssl = SSL_new(ctx->native_handle());
  if (ssl == nullptr) throw std::bad_alloc();
  BIO* bio = BIO_new(connMethod());
  if (bio == nullptr) throw std::bad_alloc();
  BIO_set_data(bio, this);
  SSL_set_bio(ssl, bio, bio);  // one reference, read and write
  SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

asio::mutable_buffer Conn::inSpace() {
  if (in_begin > 0) {  // keep the unread bytes at the front
    std::memmove(in.get(), in.get() + in_begin, in_end - in_begin);
    in_end -= in_begin;
    in_begin = 0;
  }
  if (!in || in_end == in_cap) {
    const size_t cap = !in ? kFirstRead : std::max(kMaxRecord, in_cap * 2);
    auto bigger = std::make_unique<char[]>(cap);
    if (in_end > 0) std::memcpy(bigger.get(), in.get(), in_end);
    in = std::move(bigger);
    in_cap = cap;
  }
  return asio::buffer(in.get() + in_end, in_cap - in_end);
}

void Conn::inAppend(const void* p, size_t n) {
  if (n == 0) return;
  inSpace();  // compacted, and allocated
  if (in_cap - in_end < n) {
    const size_t cap = in_end + n;
    auto bigger = std::make_unique<char[]>(cap);
    if (in_end > 0) std::memcpy(bigger.get(), in.get(), in_end);
    in = std::move(bigger);
    in_cap = cap;
  }
  std::memcpy(in.get() + in_end, p, n);
  in_end += n;
}

error_code Conn::tlsError(int ret) {
  const int e = SSL_get_error(ssl, ret);
  if (e == SSL_ERROR_ZERO_RETURN) return asio::error::eof;  // close_notify
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (e == SSL_ERROR_SYSCALL && code == 0) return asio::ssl::error::stream_truncated;
  if (ERR_GET_LIB(code) == ERR_LIB_SSL && ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
    return asio::ssl::error::stream_truncated;
  if (code == 0) return asio::ssl::error::stream_truncated;
  return error_code(static_cast<int>(code), asio::error::get_ssl_category());
}

size_t Conn::tlsRead(void* p, size_t n, bool& want_read, error_code& ec) {
  size_t got = 0;
  ERR_clear_error();  // SSL_get_error reads the thread's queue
  const int r = SSL_read_ex(ssl, p, n, &got);
  if (r == 1) return got;
  if (SSL_get_error(ssl, r) == SSL_ERROR_WANT_READ) {
    want_read = true;
    return 0;
  }
  ec = tlsError(r);
  return 0;
}

size_t Conn::tlsWrite(const void* p, size_t n, error_code& ec) {
  size_t put = 0;
  ERR_clear_error();
  const int r = SSL_write_ex(ssl, p, n, &put);
  if (r == 1) return put;
  ec = tlsError(r);
  return 0;
}

bool Conn::sendNow(const char* p, size_t n, size_t& sent, error_code& ec) {
  while (sent < n) {
    const ssize_t r = ::send(socket.native_handle(), p + sent, n - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r > 0) {
      sent += static_cast<size_t>(r);
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else {
      if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ec = error_code(errno, asio::error::get_system_category());
      return false;
    }
  }
  return true;
}

bool Conn::writeNow(const char* p, size_t n, size_t& taken, error_code& ec) {
  taken = 0;
  if (writing || !out.empty() || !sending.empty() || !socket.is_open()) return false;
  if (!ssl) return sendNow(p, n, taken, ec);
  while (taken < n) {
    const size_t put = tlsWrite(p + taken, std::min(n - taken, kMaxPlainPerWrite), ec);
    if (ec) return false;
    taken += put;
  }
  size_t sent = 0;
  const bool all = sendNow(out.data(), out.size(), sent, ec);
  if (all) {
    out.clear();
    if (out.capacity() > 2048) std::string().swap(out);  // idle connections keep little
  } else {
    out.erase(0, sent);
  }
  return all;
}

void Conn::tlsHandshake(bool& want_read, error_code& ec) {
  ERR_clear_error();
  const int r = SSL_do_handshake(ssl);
  if (r == 1) return;
  if (SSL_get_error(ssl, r) == SSL_ERROR_WANT_READ) {
    want_read = true;
    return;
  }
  ec = tlsError(r);
}
}  // namespace transport

AnyStream::AnyStream(boost::asio::ip::tcp::socket s) : c_(std::make_shared<transport::Conn>(std::move(s))) {}

AnyStream::AnyStream(const executor_type& ex) : c_(std::make_shared<transport::Conn>(transport::tcp::socket(ex))) {}

AnyStream::~AnyStream() {
  if (c_) c_->close();  // pending operations end; their handlers hold the state
}

}  // namespace hawser
