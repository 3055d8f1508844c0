// AnyStream over real loopback sockets in one io_context: the per-connection
// deadline (Beast's rules), TLS on the connection's own buffers (handshake
// with early bytes, large transfers both ways at once, many small buffers,
// truncation, a refused handshake's alert reaching the peer), cancellation.
#include "dataplane/any_stream.h"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <random>

#include "dataplane/tls/handshake_failure.h"
#include "dataplane/tls/identity.h"
#include "tls/tls_test_support.h"

namespace hawser {
namespace {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
constexpr auto tok = asio::as_tuple(asio::use_awaitable);

// Reads one byte into `byte`; the read's error code.
asio::awaitable<boost::system::error_code> readByte(AnyStream& s, char& byte) {
  auto [ec, n] = co_await s.async_read_some(asio::buffer(&byte, 1), tok);
  co_return ec;
}

asio::awaitable<boost::system::error_code> handshake(AnyStream& s, AnyStream::Role role,
                                                     asio::const_buffer early = {}) {
  auto [ec] = co_await s.async_handshake(role, early, tok);
  co_return ec;
}

class AnyStreamTest : public ::testing::Test {
 protected:
  // A connected pair of sockets on 127.0.0.1.
  std::pair<tcp::socket, tcp::socket> socketPair() {
    tcp::acceptor acc(ctx_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    tcp::socket a(ctx_), b(ctx_);
    a.connect(acc.local_endpoint());
    acc.accept(b);
    return {std::move(a), std::move(b)};
  }
  // Runs `body` to completion, bounded (a hung operation fails the test).
  template <class F>
  void run(F body) {
    bool finished = false;
    std::exception_ptr failure;
    asio::co_spawn(ctx_, body(), [&](std::exception_ptr e) {
      failure = e;
      finished = true;
    });
    ctx_.run_for(20s);
    ASSERT_TRUE(finished) << "did not finish";
    if (failure) std::rethrow_exception(failure);
  }
  std::shared_ptr<asio::ssl::context> context(const tls::CertifiedKey& leaf, tls::TlsRole role,
                                              const tls::CertifiedKey& trusted) {
    auto c = tls::testing::contextFor(tls::testing::materialFor(leaf, {&trusted}), role);
    return std::make_shared<asio::ssl::context>(c.release());
  }
  tls::CertifiedKey issue(const std::string& name, const tls::CertifiedKey& ca) {
    return tls::issueWorkloadCertificate(ca, tls::testing::workload(name, "spiffe://test/" + name));
  }
  // A TLS pair after a completed handshake (client first, server second).
  asio::awaitable<void> handshakePair(AnyStream& client, AnyStream& server) {
    client.upgradeToTls(context(client_, tls::TlsRole::kClient, ca_));
    server.upgradeToTls(context(server_, tls::TlsRole::kServer, ca_));
    auto [cec, sec] =
        co_await (handshake(client, AnyStream::Role::client) && handshake(server, AnyStream::Role::server));
    EXPECT_FALSE(cec) << cec.message();
    EXPECT_FALSE(sec) << sec.message();
  }

  asio::io_context ctx_;
  tls::CertifiedKey ca_ = tls::createCertificateAuthority();
  tls::CertifiedKey server_ = issue("server", ca_);
  tls::CertifiedKey client_ = issue("client", ca_);
};

TEST_F(AnyStreamTest, PendingReadPastItsDeadlineEndsWithTimeoutAndClosesTheStream) {
  auto [a, b] = socketPair();
  AnyStream s(std::move(a));
  run([&]() -> asio::awaitable<void> {
    s.expires_after(50ms);
    char byte;
    EXPECT_EQ(co_await readByte(s, byte), boost::beast::error::timeout);
    EXPECT_FALSE(s.socket().is_open());
  });
}

TEST_F(AnyStreamTest, DeadlinePassedWithNothingPendingTimesOutTheNextOperation) {
  auto [a, b] = socketPair();
  AnyStream s(std::move(a));
  run([&]() -> asio::awaitable<void> {
    s.expires_at(AnyStream::Clock::now() - 1ms);
    char byte = 'x';
    auto [ec, n] = co_await s.async_write_some(asio::buffer(&byte, 1), tok);
    EXPECT_EQ(ec, boost::beast::error::timeout);
  });
}

TEST_F(AnyStreamTest, LaterAndClearedDeadlinesDoNotCutAnOperationShort) {
  auto [a, b] = socketPair();
  AnyStream s(std::move(a));
  run([&]() -> asio::awaitable<void> {
    char byte;
    // Armed for 30 ms, then moved later, then cleared: the read waits for data.
    s.expires_after(30ms);
    s.expires_after(60s);
    s.expires_never();
    asio::steady_timer later(ctx_, 150ms);
    later.async_wait([&](boost::system::error_code) { asio::write(b, asio::buffer("y", 1)); });
    auto ec = co_await readByte(s, byte);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(byte, 'y');
    // The same stream still honours a new deadline afterwards.
    s.expires_after(40ms);
    EXPECT_EQ(co_await readByte(s, byte), boost::beast::error::timeout);
  });
}

TEST_F(AnyStreamTest, PendingReadKeepsTheDeadlineItStartedWith) {
  // The read ahead of a kept-alive connection is pending without a deadline
  // while the response is written under one: the response's deadline must
  // not end the idle read later.
  auto [a, b] = socketPair();
  AnyStream s(std::move(a));
  run([&]() -> asio::awaitable<void> {
    char byte = 0;
    s.expires_never();
    auto respond = [&]() -> asio::awaitable<void> {
      s.expires_after(20ms);
      auto [ec, n] = co_await asio::async_write(s, asio::buffer(std::string_view("response")), tok);
      EXPECT_FALSE(ec);
      asio::steady_timer t(ctx_, 200ms);  // well past the write's deadline
      co_await t.async_wait(tok);
      asio::write(b, asio::buffer("z", 1));
    };
    auto ec = co_await (readByte(s, byte) && respond());
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(byte, 'z');
  });
}

TEST_F(AnyStreamTest, CancelledReadLosesNoBytes) {
  auto [a, b] = socketPair();
  AnyStream client(std::move(a)), server(std::move(b));
  run([&]() -> asio::awaitable<void> {
    co_await handshakePair(client, server);
    char buf[16];
    asio::steady_timer t(ctx_, 30ms);
    auto r = co_await (server.async_read_some(asio::buffer(buf), tok) || t.async_wait(tok));
    EXPECT_EQ(r.index(), 1u);  // the timer won; the read was cancelled
    auto [wec, wn] = co_await asio::async_write(client, asio::buffer(std::string_view("hello")), tok);
    EXPECT_FALSE(wec);
    auto [rec, rn] = co_await asio::async_read(server, asio::buffer(buf, 5), tok);
    EXPECT_FALSE(rec) << rec.message();
    EXPECT_EQ(std::string_view(buf, rn), "hello");
  });
}

TEST_F(AnyStreamTest, TlsCarriesLargeTransfersBothWaysAtOnce) {
  auto [a, b] = socketPair();
  AnyStream client(std::move(a)), server(std::move(b));
  std::string up(3 << 20, '\0'), down(2 << 20, '\0');
  std::mt19937 rng(7);
  for (auto& ch : up) ch = static_cast<char>(rng());
  for (auto& ch : down) ch = static_cast<char>(rng());
  std::string got_up(up.size(), '\0'), got_down(down.size(), '\0');
  run([&]() -> asio::awaitable<void> {
    co_await handshakePair(client, server);
    EXPECT_TRUE(client.isTls());
    EXPECT_EQ(tls::peerIdentity(SSL_get0_peer_certificate(server.ssl())), "spiffe://test/client");
    // Odd-sized writes and reads, all four at once.
    auto writer = [](AnyStream& s, const std::string& data) -> asio::awaitable<void> {
      size_t at = 0, step = 1;
      while (at < data.size()) {
        const size_t n = std::min(data.size() - at, step);
        auto [ec, w] = co_await asio::async_write(s, asio::buffer(data.data() + at, n), tok);
        EXPECT_FALSE(ec) << ec.message();
        if (ec) co_return;
        at += w;
        step = step * 3 + 1 > 100000 ? 7 : step * 3 + 1;
      }
    };
    auto reader = [](AnyStream& s, std::string& into) -> asio::awaitable<void> {
      auto [ec, n] = co_await asio::async_read(s, asio::buffer(into), tok);
      EXPECT_FALSE(ec) << ec.message();
      EXPECT_EQ(n, into.size());
    };
    co_await (writer(client, up) && reader(server, got_up) && writer(server, down) && reader(client, got_down));
  });
  EXPECT_TRUE(got_up == up);
  EXPECT_TRUE(got_down == down);
}

TEST_F(AnyStreamTest, ManySmallBuffersGoOutAsOneWrite) {
  auto [a, b] = socketPair();
  AnyStream client(std::move(a)), server(std::move(b));
  run([&]() -> asio::awaitable<void> {
    co_await handshakePair(client, server);
    std::vector<std::string> pieces;
    std::vector<asio::const_buffer> seq;
    std::string all;
    for (int i = 0; i < 200; ++i) pieces.push_back("field-" + std::to_string(i) + ";");
    for (const auto& p : pieces) {
      seq.push_back(asio::buffer(p));
      all += p;
    }
    auto [wec, wn] = co_await client.async_write_some(seq, tok);
    EXPECT_FALSE(wec);
    EXPECT_EQ(wn, all.size());  // all of it in one operation (under 16 KiB)
    std::string got(all.size(), '\0');
    auto [rec, rn] = co_await asio::async_read(server, asio::buffer(got), tok);
    EXPECT_FALSE(rec);
    EXPECT_EQ(got, all);
  });
}

TEST_F(AnyStreamTest, ServerHandshakeTakesBytesAlreadyRead) {
  auto [a, b] = socketPair();
  AnyStream client(std::move(a)), server(std::move(b));
  client.upgradeToTls(context(client_, tls::TlsRole::kClient, ca_));
  run([&]() -> asio::awaitable<void> {
    auto accept = [&]() -> asio::awaitable<boost::system::error_code> {
      // Read the first bytes as plaintext, the way a listener tells TLS from HTTP.
      std::array<char, 64> early{};
      auto [ec, n] = co_await server.async_read_some(asio::buffer(early), tok);
      EXPECT_FALSE(ec);
      EXPECT_EQ(static_cast<unsigned char>(early[0]), 0x16);  // a handshake record
      server.upgradeToTls(context(server_, tls::TlsRole::kServer, ca_));
      co_return co_await handshake(server, AnyStream::Role::server, asio::buffer(early.data(), n));
    };
    auto [cec, sec] = co_await (handshake(client, AnyStream::Role::client) && accept());
    EXPECT_FALSE(cec) << cec.message();
    EXPECT_FALSE(sec) << sec.message();
    auto [wec, wn] = co_await asio::async_write(server, asio::buffer(std::string_view("pong")), tok);
    EXPECT_FALSE(wec);
    char buf[4];
    auto [rec, rn] = co_await asio::async_read(client, asio::buffer(buf), tok);
    EXPECT_FALSE(rec) << rec.message();
    EXPECT_EQ(std::string_view(buf, 4), "pong");
  });
}

TEST_F(AnyStreamTest, TcpCloseWithoutCloseNotifyIsTruncation) {
  auto [a, b] = socketPair();
  AnyStream client(std::move(a)), server(std::move(b));
  run([&]() -> asio::awaitable<void> {
    co_await handshakePair(client, server);
    client.socket().shutdown(tcp::socket::shutdown_send);  // a FIN, no close_notify
    char buf[8];
    auto [ec, n] = co_await server.async_read_some(asio::buffer(buf), tok);
    EXPECT_EQ(ec, asio::ssl::error::stream_truncated) << ec.message();
  });
}

TEST_F(AnyStreamTest, RefusedHandshakeSendsItsAlertToThePeer) {
  auto [a, b] = socketPair();
  AnyStream client(std::move(a)), server(std::move(b));
  auto other_ca = tls::createCertificateAuthority();
  auto stranger = issue("stranger", other_ca);
  // The client trusts the CA, the server's certificate comes from another one.
  client.upgradeToTls(context(client_, tls::TlsRole::kClient, ca_));
  server.upgradeToTls(context(stranger, tls::TlsRole::kServer, ca_));
  run([&]() -> asio::awaitable<void> {
    auto [client_ec, server_ec] =
        co_await (handshake(client, AnyStream::Role::client) && handshake(server, AnyStream::Role::server));
    EXPECT_TRUE(client_ec);
    EXPECT_EQ(client_ec.category(), asio::error::get_ssl_category());
    EXPECT_EQ(SSL_get_verify_result(client.ssl()), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    // The server learns why from the client's alert, not from a bare close.
    EXPECT_TRUE(server_ec);
    EXPECT_EQ(server_ec.category(), asio::error::get_ssl_category()) << server_ec.message();
    EXPECT_EQ(
        tls::handshakeFailureReason(SSL_get_verify_result(server.ssl()), static_cast<unsigned long>(server_ec.value())),
        tls::reason::kUnknownCa);
  });
}

TEST_F(AnyStreamTest, IdleTlsConnectionWaitsWithoutBuffersThenReadsWhatCame) {
  auto [a, b] = socketPair();
  AnyStream client(std::move(a)), server(std::move(b));
  run([&]() -> asio::awaitable<void> {
    co_await handshakePair(client, server);
    char buf[16];
    // One exchange first, so the server's TLS input buffer exists.
    auto [w1, n1] = co_await asio::async_write(client, asio::buffer(std::string_view("one")), tok);
    EXPECT_FALSE(w1);
    auto [r1, m1] = co_await asio::async_read(server, asio::buffer(buf, 3), tok);
    EXPECT_FALSE(r1) << r1.message();
    server.releaseIdleBuffers();
    auto waiting = [&]() -> asio::awaitable<boost::system::error_code> {
      server.expires_after(10s);
      auto [ec] = co_await server.async_wait_readable(tok);
      co_return ec;
    };
    auto later = [&]() -> asio::awaitable<void> {
      asio::steady_timer t(ctx_, 50ms);
      co_await t.async_wait(tok);
      co_await asio::async_write(client, asio::buffer(std::string_view("two")), tok);
    };
    auto wec = co_await (waiting() && later());
    EXPECT_FALSE(wec) << wec.message();
    auto [r2, m2] = co_await asio::async_read(server, asio::buffer(buf, 3), tok);
    EXPECT_FALSE(r2) << r2.message();
    EXPECT_EQ(std::string_view(buf, 3), "two");
    // The wait keeps the connection's deadline.
    server.expires_after(40ms);
    auto [tec] = co_await server.async_wait_readable(tok);
    EXPECT_EQ(tec, boost::beast::error::timeout);
  });
}

TEST_F(AnyStreamTest, TlsReadPastItsDeadlineTimesOut) {
  auto [a, b] = socketPair();
  AnyStream client(std::move(a)), server(std::move(b));
  run([&]() -> asio::awaitable<void> {
    co_await handshakePair(client, server);
    server.expires_after(50ms);
    char buf[8];
    auto [ec, n] = co_await server.async_read_some(asio::buffer(buf), tok);
    EXPECT_EQ(ec, boost::beast::error::timeout);
  });
}

TEST_F(AnyStreamTest, DestroyedWithOperationsPendingIsSafe) {
  auto [a, b] = socketPair();
  char buf[8];
  boost::system::error_code seen;
  bool called = false;
  {
    AnyStream s(std::move(a));
    s.expires_after(10s);
    s.async_read_some(asio::buffer(buf), [&](boost::system::error_code ec, size_t) {
      seen = ec;
      called = true;
    });
  }
  ctx_.run_for(5s);
  EXPECT_TRUE(called);
  EXPECT_EQ(seen, asio::error::operation_aborted);
}

}  // namespace
}  // namespace hawser

namespace hawser {
namespace {

// writeNow: what the socket takes at once, then the rest through the
// asynchronous path; a full send buffer leaves TLS records for async_flush.
TEST_F(AnyStreamTest, WriteNowSendsWhatFitsAndTheRestFollowsInOrder) {
  for (bool tls : {false, true}) {
    ctx_.restart();  // the previous round's run() left it stopped
    auto [a, b] = socketPair();
    a.set_option(asio::socket_base::send_buffer_size(4096));
    AnyStream client(std::move(a)), server(std::move(b));
    run([&]() -> asio::awaitable<void> {
      if (tls) co_await handshakePair(client, server);
      size_t taken = 0;
      boost::system::error_code ec;
      EXPECT_TRUE(client.writeNow("small", taken, ec));
      EXPECT_EQ(taken, 5u);
      std::string big(4 << 20, '\0');
      std::mt19937 gen(1);
      for (auto& ch : big) ch = static_cast<char>(gen());
      // Nobody reads yet: the socket takes part of 4 MiB at most.
      EXPECT_FALSE(client.writeNow(big, taken, ec));
      EXPECT_FALSE(ec) << ec.message();
      if (tls) {
        EXPECT_EQ(taken, big.size());  // all of it made into records, some still waiting
      } else {
        EXPECT_LT(taken, big.size());
      }
      // Another writeNow while records wait takes nothing (order is kept).
      size_t none = 99;
      EXPECT_FALSE(client.writeNow("later", none, ec));
      EXPECT_EQ(none, 0u);
      auto rest = [&]() -> asio::awaitable<void> {
        if (taken < big.size()) {
          auto [wec, wn] =
              co_await asio::async_write(client, asio::buffer(big.data() + taken, big.size() - taken), tok);
          EXPECT_FALSE(wec) << wec.message();
        } else {
          auto [fec] = co_await client.async_flush(tok);
          EXPECT_FALSE(fec) << fec.message();
        }
      };
      std::string got(5 + big.size(), '\0');
      auto receive = [&]() -> asio::awaitable<void> {
        auto [rec, rn] = co_await asio::async_read(server, asio::buffer(got), tok);
        EXPECT_FALSE(rec) << rec.message();
      };
      co_await (rest() && receive());
      EXPECT_EQ(got.substr(0, 5), "small");
      EXPECT_TRUE(got.substr(5) == big) << "tls=" << tls;
    });
  }
}

}  // namespace
}  // namespace hawser
