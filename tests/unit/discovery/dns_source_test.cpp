// DnsSource against a real DNS server: dnsmasq (Debian's /usr/sbin/dnsmasq),
// started by the test on 127.0.0.1 with an ephemeral port, restarted with
// other arguments (or SIGHUPed with a changed hosts file) to change records.
// Covers: SRV + A/AAAA resolution and attributes, TTLs from the answers and
// the clamps, a changed record picked up after its TTL, and NXDOMAIN,
// SERVFAIL (dnsmasq answers SERVFAIL when DNSSEC validation of a forwarded
// answer fails) and timeouts (dnsmasq stopped) keeping the last-known set.
// Every wait is bounded; dnsmasq is killed by each test's teardown.
#include "discovery/dns/dns_source.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

extern char** environ;

namespace hawser::discovery::dns {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr const char* kDnsmasq = "/usr/sbin/dnsmasq";
// The root zone's KSK-2017 DS: any trust anchor works, validation of the
// unsigned forwarded answers fails either way.
constexpr const char* kTrustAnchor =
    "--trust-anchor=.,20326,8,2,E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D";

bool bindable(int type, std::uint16_t port) {
  int fd = ::socket(AF_INET, type, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// A port free for both UDP and TCP on 127.0.0.1.
std::uint16_t freePort() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    std::uint16_t port = ntohs(addr.sin_port);
    if (port != 0 && bindable(SOCK_STREAM, port) && bindable(SOCK_DGRAM, port)) return port;
  }
  return 0;
}

bool tcpConnects(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

class Dnsmasq {
 public:
  Dnsmasq(std::uint16_t port, fs::path log) : port_(port), log_(std::move(log)) {}
  ~Dnsmasq() { stop(); }

  // Starts dnsmasq with the common loopback-only arguments plus `extra`;
  // returns once it accepts TCP on the port.
  ::testing::AssertionResult start(const std::vector<std::string>& extra) {
    stop();
    std::vector<std::string> args = {kDnsmasq,
                                     "--no-daemon",
                                     "--port=" + std::to_string(port_),
                                     "--listen-address=127.0.0.1",
                                     "--bind-interfaces",
                                     "--no-resolv",
                                     "--no-hosts",
                                     "--conf-file=/dev/null",
                                     "--pid-file=",
                                     "--log-facility=-"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int rc = posix_spawn(&pid_, kDnsmasq, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = -1;
      return ::testing::AssertionFailure() << "posix_spawn dnsmasq: " << rc;
    }
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return ::testing::AssertionFailure() << "dnsmasq exited at startup; log:\n" << logText();
      }
      if (tcpConnects(port_)) return ::testing::AssertionSuccess();
      std::this_thread::sleep_for(20ms);
    }
    stop();
    return ::testing::AssertionFailure() << "dnsmasq did not listen on " << port_ << " within 5s; log:\n" << logText();
  }

  void signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    ::kill(pid_, SIGCONT);  // in case a test froze it
    auto deadline = std::chrono::steady_clock::now() + 3s;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) != pid_) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
    pid_ = -1;
  }

  std::string logText() const {
    std::ifstream in(log_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::uint16_t port() const { return port_; }

 private:
  std::uint16_t port_;
  fs::path log_;
  pid_t pid_ = -1;
};

std::string describe(const std::vector<EndpointSpec>& specs) {
  std::string out;
  for (const auto& s : specs) {
    out += s.host + ":" + std::to_string(s.port);
    for (const auto& [k, v] : s.attributes) out += " " + k + "=" + v;
    out += "; ";
  }
  return out;
}

std::vector<std::string> keys(const std::vector<EndpointSpec>& specs) {
  std::vector<std::string> out;
  for (const auto& s : specs) out.push_back(s.host + ":" + std::to_string(s.port));
  return out;
}

class DnsSourceDnsmasq : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kDnsmasq)) {
      std::cerr << "\n*** SKIPPING DnsSource integration tests: " << kDnsmasq
                << " is missing (apt-get install dnsmasq-base) ***\n\n";
      GTEST_SKIP() << kDnsmasq << " is missing";
    }
    dir_ = fs::temp_directory_path() / ("hawser-dns-test-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    std::uint16_t port = freePort();
    ASSERT_NE(port, 0);
    std::uint16_t upstream_port = freePort();
    ASSERT_NE(upstream_port, 0);
    ASSERT_NE(port, upstream_port);
    dns_ = std::make_unique<Dnsmasq>(port, dir_ / "dnsmasq.log");
    upstream_ = std::make_unique<Dnsmasq>(upstream_port, dir_ / "upstream.log");
  }
  void TearDown() override {
    source_.reset();
    if (dns_) dns_->stop();
    if (upstream_) upstream_->stop();
    if (HasFailure() && dns_) std::cerr << "dnsmasq log:\n" << dns_->logText();
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  DnsSourceConfig baseConfig() {
    DnsSourceConfig c;
    c.servers = {"127.0.0.1:" + std::to_string(dns_->port())};
    c.name = "_http._tcp.svc.test";
    c.kind = DnsRecordKind::srv;
    c.family = AddressFamily::any;
    c.min_ttl = 500ms;
    c.max_ttl = 30s;
    c.negative_ttl = 300ms;
    c.timeout = 250ms;
    c.tries = 1;
    return c;
  }

  void makeSource(DnsSourceConfig c) {
    source_ = std::make_unique<DnsSource>(
        io_.get_executor(), std::move(c), [this](const std::vector<EndpointSpec>& specs) { updates_.push_back(specs); },
        [this](const DnsSourceError& e) { errors_.push_back(e); });
    source_->start();
  }

  // Runs the io_context until `done` holds or `limit` passes.
  bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io_.run_for(20ms);
    }
    return true;
  }
  void runFor(std::chrono::milliseconds d) {
    runUntil([] { return false; }, d);
  }

  bool hasError(const std::string& kind) const {
    for (const auto& e : errors_) {
      if (e.kind == kind) return true;
    }
    return false;
  }
  std::string errorKinds() const {
    std::string out;
    for (const auto& e : errors_) out += e.kind + " (" + e.message + "); ";
    return out;
  }

  std::vector<std::string> srvRecords(const std::string& a_addr, int a_port) {
    return {"--srv-host=_http._tcp.svc.test,a.svc.test," + std::to_string(a_port) + ",0,10",
            "--srv-host=_http._tcp.svc.test,b.svc.test,8082,1,5",
            "--host-record=a.svc.test," + a_addr,
            "--host-record=b.svc.test,127.0.0.2,::2",
            "--local=/svc.test/",
            "--local-ttl=1"};
  }

  fs::path dir_;
  boost::asio::io_context io_;
  std::unique_ptr<Dnsmasq> dns_, upstream_;
  std::unique_ptr<DnsSource> source_;
  std::vector<std::vector<EndpointSpec>> updates_;
  std::vector<DnsSourceError> errors_;
};

TEST_F(DnsSourceDnsmasq, SrvTargetsResolvedToAandAaaaWithAttributes) {
  ASSERT_TRUE(dns_->start(srvRecords("127.0.0.1", 8081)));
  makeSource(baseConfig());
  ASSERT_TRUE(runUntil([&] { return !updates_.empty(); }, 5s)) << errorKinds();
  EXPECT_TRUE(source_->stats().warmed.load());
  const auto& set = updates_.back();
  ASSERT_EQ(keys(set), (std::vector<std::string>{"127.0.0.1:8081", "127.0.0.2:8082", "::2:8082"})) << describe(set);
  EXPECT_EQ(set[0].attributes.at("srv_priority"), "0");
  EXPECT_EQ(set[0].attributes.at("srv_weight"), "10");
  EXPECT_EQ(set[0].attributes.at("srv_target"), "a.svc.test");
  EXPECT_EQ(set[1].attributes.at("srv_priority"), "1");
  EXPECT_EQ(set[1].attributes.at("srv_weight"), "5");
  EXPECT_EQ(set[2].attributes.at("srv_target"), "b.svc.test");
  // a.svc.test has no AAAA: NODATA for it is not an error.
  EXPECT_TRUE(errors_.empty()) << errorKinds();
  // TTL 1s (--local-ttl) from the answers, within the clamps.
  EXPECT_EQ(source_->stats().next_refresh_ms.load(), 1000);
  // SRV + A/AAAA for each of two targets.
  EXPECT_EQ(source_->stats().queries.load(), 5u);

  // Unchanged answers: rounds continue in the background, no new update.
  runFor(2500ms);
  EXPECT_GE(source_->stats().rounds.load(), 3u);
  EXPECT_EQ(updates_.size(), 1u);
}

TEST_F(DnsSourceDnsmasq, MinTtlClampApplies) {
  ASSERT_TRUE(dns_->start(srvRecords("127.0.0.1", 8081)));
  auto c = baseConfig();
  c.min_ttl = 3s;
  makeSource(c);
  ASSERT_TRUE(runUntil([&] { return !updates_.empty(); }, 5s)) << errorKinds();
  EXPECT_EQ(source_->stats().next_refresh_ms.load(), 3000);
}

TEST_F(DnsSourceDnsmasq, ChangesPickedUpAndFailuresKeepTheLastKnownSet) {
  ASSERT_TRUE(dns_->start(srvRecords("127.0.0.1", 8081)));
  makeSource(baseConfig());
  ASSERT_TRUE(runUntil([&] { return !updates_.empty(); }, 5s)) << errorKinds();
  ASSERT_EQ(keys(updates_.back()), (std::vector<std::string>{"127.0.0.1:8081", "127.0.0.2:8082", "::2:8082"}));

  // 1. A changed SRV port and A record: picked up after the 1s TTL.
  ASSERT_TRUE(dns_->start(srvRecords("127.0.0.3", 9091)));
  auto changed_at = std::chrono::steady_clock::now();
  const std::vector<std::string> changed{"127.0.0.2:8082", "127.0.0.3:9091", "::2:8082"};
  ASSERT_TRUE(runUntil([&] { return keys(updates_.back()) == changed; }, 5s))
      << describe(updates_.back()) << " errors: " << errorKinds();
  EXPECT_LE(std::chrono::steady_clock::now() - changed_at, 2500ms);
  auto updates_before = updates_.size();
  const auto known = updates_.back();

  // 2. NXDOMAIN: the name is gone from the (local) zone. Set kept.
  errors_.clear();
  ASSERT_TRUE(dns_->start({"--local=/svc.test/", "--local-ttl=1"}));
  ASSERT_TRUE(runUntil([&] { return source_->stats().nxdomain.load() >= 2; }, 5s)) << errorKinds();
  EXPECT_TRUE(hasError("nxdomain")) << errorKinds();
  EXPECT_EQ(updates_.size(), updates_before);
  EXPECT_EQ(source_->stats().next_refresh_ms.load(), 300);  // negative_ttl

  // 3. SERVFAIL: dnsmasq forwards the name to an upstream and its DNSSEC
  // validation of the unsigned answer fails. Set kept.
  ASSERT_TRUE(upstream_->start(srvRecords("127.0.0.9", 9999)));
  ASSERT_TRUE(dns_->start({"--dnssec", kTrustAnchor, "--dnssec-check-unsigned",
                           "--server=127.0.0.1#" + std::to_string(upstream_->port())}));
  ASSERT_TRUE(runUntil([&] { return source_->stats().servfail.load() >= 2; }, 5s)) << errorKinds();
  EXPECT_TRUE(hasError("servfail")) << errorKinds();
  EXPECT_EQ(updates_.size(), updates_before);

  // 4. Timeouts: the server is frozen (SIGSTOP). Set kept.
  upstream_->stop();
  dns_->signal(SIGSTOP);
  ASSERT_TRUE(runUntil([&] { return source_->stats().timeouts.load() >= 2; }, 5s)) << errorKinds();
  EXPECT_TRUE(hasError("timeout")) << errorKinds();
  dns_->signal(SIGCONT);

  // 5. The server is gone (ICMP port unreachable on loopback). Set kept.
  dns_->stop();
  auto errors_before = source_->stats().errors.load();
  ASSERT_TRUE(runUntil([&] { return source_->stats().errors.load() >= errors_before + 2; }, 5s)) << errorKinds();
  EXPECT_TRUE(hasError("connection") || hasError("timeout")) << errorKinds();
  EXPECT_EQ(updates_.size(), updates_before);
  EXPECT_EQ(keys(updates_.back()), keys(known));
  EXPECT_TRUE(source_->stats().warmed.load());

  // 6. The server is back with the original records: picked up again.
  ASSERT_TRUE(dns_->start(srvRecords("127.0.0.1", 8081)));
  ASSERT_TRUE(runUntil(
      [&] {
        return keys(updates_.back()) == std::vector<std::string>{"127.0.0.1:8081", "127.0.0.2:8082", "::2:8082"};
      },
      5s))
      << describe(updates_.back()) << " errors: " << errorKinds();
  EXPECT_EQ(updates_.size(), updates_before + 1);
  EXPECT_GE(source_->stats().errors.load(), 6u);
}

TEST_F(DnsSourceDnsmasq, AddressRecordsWithConfiguredPortAndHostsFileReload) {
  auto hosts = dir_ / "hosts";
  { std::ofstream(hosts) << "127.0.0.5 api.svc.test\n127.0.0.6 api.svc.test\n"; }
  ASSERT_TRUE(dns_->start({"--addn-hosts=" + hosts.string(), "--local=/svc.test/", "--local-ttl=1"}));
  auto c = baseConfig();
  c.name = "api.svc.test";
  c.kind = DnsRecordKind::address;
  c.family = AddressFamily::ipv4;
  c.port = 7000;
  makeSource(c);
  ASSERT_TRUE(runUntil([&] { return !updates_.empty(); }, 5s)) << errorKinds();
  EXPECT_EQ(keys(updates_.back()), (std::vector<std::string>{"127.0.0.5:7000", "127.0.0.6:7000"}));
  EXPECT_TRUE(updates_.back()[0].attributes.empty());

  { std::ofstream(hosts) << "127.0.0.7 api.svc.test\n"; }
  dns_->signal(SIGHUP);  // dnsmasq re-reads --addn-hosts
  ASSERT_TRUE(runUntil([&] { return keys(updates_.back()) == std::vector<std::string>{"127.0.0.7:7000"}; }, 5s))
      << describe(updates_.back()) << " errors: " << errorKinds();

  // The name disappears: NXDOMAIN, set kept.
  { std::ofstream(hosts) << "127.0.0.8 other.svc.test\n"; }
  dns_->signal(SIGHUP);
  ASSERT_TRUE(runUntil([&] { return hasError("nxdomain"); }, 5s)) << errorKinds();
  EXPECT_EQ(keys(updates_.back()), std::vector<std::string>{"127.0.0.7:7000"});
}

TEST_F(DnsSourceDnsmasq, NxdomainFirstDoesNotWarmAndRecovers) {
  ASSERT_TRUE(dns_->start({"--local=/svc.test/", "--local-ttl=1"}));
  makeSource(baseConfig());
  ASSERT_TRUE(runUntil([&] { return source_->stats().nxdomain.load() >= 1; }, 5s)) << errorKinds();
  EXPECT_FALSE(source_->stats().warmed.load());
  EXPECT_TRUE(updates_.empty());
  ASSERT_TRUE(dns_->start(srvRecords("127.0.0.1", 8081)));
  ASSERT_TRUE(runUntil([&] { return !updates_.empty(); }, 5s)) << errorKinds();
  EXPECT_TRUE(source_->stats().warmed.load());
}

TEST_F(DnsSourceDnsmasq, UnresolvableTargetIsReportedOthersKept) {
  // b.svc.test has an SRV record but no address: a answers, b is reported.
  ASSERT_TRUE(dns_->start({"--srv-host=_http._tcp.svc.test,a.svc.test,8081,0,10",
                           "--srv-host=_http._tcp.svc.test,b.svc.test,8082,0,10", "--host-record=a.svc.test,127.0.0.1",
                           "--local=/svc.test/", "--local-ttl=1"}));
  makeSource(baseConfig());
  ASSERT_TRUE(runUntil([&] { return !updates_.empty(); }, 5s)) << errorKinds();
  EXPECT_EQ(keys(updates_.back()), std::vector<std::string>{"127.0.0.1:8081"});
  EXPECT_TRUE(hasError("target_unresolved")) << errorKinds();
}

TEST_F(DnsSourceDnsmasq, StopCancelsQueriesAndCallbacks) {
  // A server that never answers (a bound UDP socket nobody reads): the query
  // would time out; stop() must end everything quietly.
  int blackhole = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(blackhole, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::getsockname(blackhole, reinterpret_cast<sockaddr*>(&addr), &len);
  auto c = baseConfig();
  c.servers = {"127.0.0.1:" + std::to_string(ntohs(addr.sin_port))};
  c.timeout = 400ms;
  makeSource(c);
  runFor(50ms);
  source_->stop();
  runFor(600ms);
  EXPECT_TRUE(updates_.empty());
  EXPECT_TRUE(errors_.empty()) << errorKinds();
  source_.reset();
  io_.restart();
  io_.run_for(200ms);  // nothing left that keeps it busy
  EXPECT_TRUE(io_.stopped());
  ::close(blackhole);
}

// A DNS server the test steers: it records each query and answers only
// when told, from the test's thread (loopback delivery is done when sendto
// returns, so "answered" means "waiting in the resolver's socket").
class FakeDnsServer {
 public:
  FakeDnsServer() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~FakeDnsServer() { ::close(fd_); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Reads the queries that arrived; returns how many are held.
  std::size_t receive() {
    for (;;) {
      Held q;
      q.bytes.resize(512);
      socklen_t len = sizeof q.from;
      ssize_t n = ::recvfrom(fd_, q.bytes.data(), q.bytes.size(), 0, reinterpret_cast<sockaddr*>(&q.from), &len);
      if (n <= 0) break;
      q.bytes.resize(static_cast<std::size_t>(n));
      q.at = std::chrono::steady_clock::now();
      held_.push_back(std::move(q));
    }
    return held_.size();
  }
  std::chrono::steady_clock::time_point lastReceived() const { return held_.back().at; }

  // Answers every held query: rcode, plus one A record (TTL 1 s) when `a` is given.
  void answerAll(int rcode, const std::optional<std::array<std::uint8_t, 4>>& a = std::nullopt) {
    for (auto& q : held_) {
      std::vector<std::uint8_t> r = q.bytes;  // header + question (no EDNS from c-ares 1.18 by default)
      r[2] = static_cast<std::uint8_t>(0x80 | (r[2] & 0x01));  // QR, RD copied
      r[3] = static_cast<std::uint8_t>(0x80 | rcode);          // RA, rcode
      r[6] = 0;
      r[7] = a ? 1 : 0;
      r[8] = r[9] = r[10] = r[11] = 0;
      if (a) {
        const std::uint8_t rr[] = {0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, (*a)[0], (*a)[1], (*a)[2], (*a)[3]};
        r.insert(r.end(), std::begin(rr), std::end(rr));
      }
      ::sendto(fd_, r.data(), r.size(), 0, reinterpret_cast<const sockaddr*>(&q.from), sizeof q.from);
    }
    held_.clear();
  }

 private:
  struct Held {
    std::vector<std::uint8_t> bytes;
    sockaddr_in from{};
    std::chrono::steady_clock::time_point at;
  };
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::vector<Held> held_;
};

class DnsSourceFakeServer : public ::testing::Test {
 protected:
  DnsSourceConfig addressConfig() {
    DnsSourceConfig c;
    c.servers = {server_.address()};
    c.name = "a.svc.test";
    c.kind = DnsRecordKind::address;
    c.family = AddressFamily::ipv4;
    c.port = 8080;
    c.min_ttl = 50ms;
    c.max_ttl = 30s;
    c.negative_ttl = 50ms;
    c.timeout = 200ms;
    c.tries = 1;
    return c;
  }
  void makeSource(DnsSourceConfig c) {
    source_ = std::make_unique<DnsSource>(
        io_.get_executor(), std::move(c), [this](const std::vector<EndpointSpec>& specs) { updates_.push_back(specs); },
        [this](const DnsSourceError& e) { errors_.push_back(e); });
    source_->start();
  }
  bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io_.run_for(5ms);
    }
    return true;
  }
  std::string errorKinds() const {
    std::string out;
    for (const auto& e : errors_) out += e.kind + " (" + e.message + "); ";
    return out;
  }

  FakeDnsServer server_;
  boost::asio::io_context io_;
  std::unique_ptr<DnsSource> source_;
  std::vector<std::vector<EndpointSpec>> updates_;
  std::vector<DnsSourceError> errors_;
};

// A starved main thread: by the time the c-ares deadline is handled, the
// answer is already in the socket, but its readiness handler is queued
// behind the timer's. The answer must win; it used to be reported as a
// timeout (tries: 1), a retry's answer for any other answer.
TEST_F(DnsSourceFakeServer, AnswerWaitingWhenTheDeadlineIsHandledIsNotATimeout) {
  makeSource(addressConfig());
  ASSERT_TRUE(runUntil([&] { return server_.receive() == 1; }, 5s));
  auto deadline = server_.lastReceived() + 200ms + 50ms;
  // The main thread is busy past the deadline; the next reactor run queues
  // the timer's handler; then the answer arrives, before that handler runs.
  boost::asio::post(io_, [&] {
    while (std::chrono::steady_clock::now() < deadline) {
    }
    boost::asio::post(io_, [&] { server_.answerAll(3); });  // NXDOMAIN
  });
  ASSERT_TRUE(runUntil([&] { return !errors_.empty(); }, 5s));
  EXPECT_EQ(errors_.front().kind, "nxdomain") << errorKinds();
  EXPECT_EQ(source_->stats().timeouts.load(), 0u) << errorKinds();
}

// A frozen server (dnsmasq SIGSTOPped) times the round out and keeps the
// set; when it thaws and answers the queries it held (NXDOMAIN, say), those
// belong to rounds already reported as timeouts and are not counted again.
TEST_F(DnsSourceFakeServer, FrozenServerIsATimeoutAndItsLateAnswersAreIgnored) {
  auto c = addressConfig();
  c.negative_ttl = 700ms;  // no round in flight when the server thaws
  makeSource(c);
  ASSERT_TRUE(runUntil([&] { return server_.receive() == 1; }, 5s));
  server_.answerAll(0, std::array<std::uint8_t, 4>{127, 0, 0, 5});
  ASSERT_TRUE(runUntil([&] { return !updates_.empty(); }, 5s)) << errorKinds();
  // Frozen: hold every query until two rounds timed out.
  ASSERT_TRUE(runUntil(
      [&] {
        server_.receive();
        return source_->stats().timeouts.load() >= 2;
      },
      10s))
      << errorKinds();
  server_.receive();
  auto rounds = source_->stats().rounds.load();
  server_.answerAll(3);  // thawed: late NXDOMAINs for the held queries
  // The next round (queried after the thaw) is answered normally.
  ASSERT_TRUE(runUntil(
      [&] {
        if (server_.receive() > 0 && source_->stats().rounds.load() > rounds) {
          server_.answerAll(0, std::array<std::uint8_t, 4>{127, 0, 0, 5});
        }
        return source_->stats().next_refresh_ms.load() == 1000 || source_->stats().rounds.load() > rounds + 3;
      },
      5s))
      << errorKinds();
  for (const auto& e : errors_) EXPECT_EQ(e.kind, "timeout") << errorKinds();
  EXPECT_EQ(source_->stats().nxdomain.load(), 0u);
  EXPECT_EQ(updates_.size(), 1u);
  EXPECT_EQ(keys(updates_.back()), std::vector<std::string>{"127.0.0.5:8080"});
}

TEST(DnsSourceConfig, RejectsBadConfig) {
  boost::asio::io_context io;
  auto make = [&](DnsSourceConfig c) { DnsSource s(io.get_executor(), std::move(c), {}); };
  DnsSourceConfig ok;
  ok.name = "_http._tcp.svc.test";
  ok.servers = {"127.0.0.1:5353", "10.0.0.1", "[::1]:53", "::1"};
  EXPECT_NO_THROW(make(ok));

  auto c = ok;
  c.name = "";
  EXPECT_THROW(make(c), std::invalid_argument);
  c = ok;
  c.kind = DnsRecordKind::address;
  EXPECT_THROW(make(c), std::invalid_argument);  // no port
  c.port = 80;
  EXPECT_NO_THROW(make(c));
  for (std::string bad :
       {"localhost:53", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:70000", "[::1", "[::1]x", "1.2.3:53", "127.0.0.1:5a"}) {
    c = ok;
    c.servers = {bad};
    EXPECT_THROW(make(c), std::invalid_argument) << bad;
  }
  c = ok;
  c.min_ttl = 10s;
  c.max_ttl = 1s;
  EXPECT_THROW(make(c), std::invalid_argument);
  c = ok;
  c.negative_ttl = 0ms;
  EXPECT_THROW(make(c), std::invalid_argument);
}

TEST(DnsSourceConfig, ParseQueryTypeAndFamily) {
  auto srv = parseDnsQueryType("SRV");
  ASSERT_TRUE(srv);
  EXPECT_EQ(srv->kind, DnsRecordKind::srv);
  auto a = parseDnsQueryType("a");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->kind, DnsRecordKind::address);
  EXPECT_EQ(a->family, AddressFamily::ipv4);
  EXPECT_EQ(parseDnsQueryType("AAAA")->family, AddressFamily::ipv6);
  EXPECT_EQ(parseDnsQueryType("a+aaaa")->family, AddressFamily::any);
  EXPECT_FALSE(parseDnsQueryType("txt"));
  EXPECT_FALSE(parseDnsQueryType("any"));
  EXPECT_EQ(parseAddressFamily("ipv6"), AddressFamily::ipv6);
  EXPECT_EQ(parseAddressFamily("any"), AddressFamily::any);
  EXPECT_FALSE(parseAddressFamily("ipx"));
}

}  // namespace
}  // namespace hawser::discovery::dns
