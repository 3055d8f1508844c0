#include "discovery/dns/dns_source.h"

#include <ares.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <utility>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "discovery/dns/dns_message.h"

namespace hawser::discovery::dns {
namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool isIpv4(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}
bool isIpv6(const std::string& s) {
  in6_addr a{};
  return inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

// "ip", "ip:port", "[v6]", "[v6]:port", bare "v6" -> c-ares' CSV form.
std::string serverToCsv(const std::string& server) {
  auto bad = [&] { return std::invalid_argument("dns: server '" + server + "' is not ip[:port] or [ipv6][:port]"); };
  std::string host;
  std::string port = "53";
  if (!server.empty() && server.front() == '[') {
    auto close = server.find(']');
    if (close == std::string::npos) throw bad();
    host = server.substr(1, close - 1);
    std::string rest = server.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') throw bad();
      port = rest.substr(1);
    }
    if (!isIpv6(host)) throw bad();
  } else if (std::count(server.begin(), server.end(), ':') > 1) {
    host = server;
    if (!isIpv6(host)) throw bad();
  } else {
    auto colon = server.find(':');
    host = server.substr(0, colon);
    if (colon != std::string::npos) port = server.substr(colon + 1);
    if (!isIpv4(host)) throw bad();
  }
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    throw bad();
  }
  int p = std::stoi(port);
  if (p < 1 || p > 65535) throw bad();
  return isIpv6(host) ? "[" + host + "]:" + port : host + ":" + port;
}

void aresLibraryInit() {
  static std::once_flag once;
  static int status = ARES_SUCCESS;
  std::call_once(once, [] { status = ares_library_init(ARES_LIB_INIT_ALL); });
  if (status != ARES_SUCCESS) throw std::runtime_error(std::string("dns: ares_library_init: ") + ares_strerror(status));
}

const char* typeName(std::uint16_t type) {
  switch (type) {
    case kTypeA: return "A";
    case kTypeAaaa: return "AAAA";
    case kTypeSrv: return "SRV";
    default: return "?";
  }
}

// The outcome of one query, classified.
struct Outcome {
  enum class Cls { ok, nodata, nxdomain, failure } cls = Cls::failure;
  std::string kind;  // failure: an error kind
  std::string message;
  DnsMessage message_parsed;
};

Outcome classify(int status, const std::vector<std::uint8_t>& bytes, const std::string& name, std::uint16_t type) {
  Outcome o;
  std::string what = std::string(typeName(type)) + " " + name + ": ";
  switch (status) {
    case ARES_SUCCESS: {
      auto parsed = parseDnsMessage(bytes);
      if (auto* err = std::get_if<std::string>(&parsed)) {
        o.kind = "bad_answer";
        o.message = what + "unparseable answer: " + *err;
        return o;
      }
      o.cls = Outcome::Cls::ok;
      o.message_parsed = std::move(std::get<DnsMessage>(parsed));
      return o;
    }
    case ARES_ENODATA:
      o.cls = Outcome::Cls::nodata;
      o.message = what + "no records (NODATA)";
      return o;
    case ARES_ENOTFOUND:
      o.cls = Outcome::Cls::nxdomain;
      o.message = what + "NXDOMAIN";
      return o;
    case ARES_ESERVFAIL:
    case ARES_ENOTIMP: o.kind = "servfail"; break;
    case ARES_EREFUSED: o.kind = "refused"; break;
    case ARES_ETIMEOUT: o.kind = "timeout"; break;
    case ARES_ECONNREFUSED: o.kind = "connection"; break;
    case ARES_EBADRESP:
    case ARES_EFORMERR: o.kind = "bad_answer"; break;
    default: o.kind = "internal"; break;
  }
  o.message = what + ares_strerror(status);
  return o;
}

bool sameSpecs(const std::vector<EndpointSpec>& a, const std::vector<EndpointSpec>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].host != b[i].host || a[i].port != b[i].port || a[i].attributes != b[i].attributes) return false;
  }
  return true;
}

constexpr std::uint32_t kNoTtl = std::numeric_limits<std::uint32_t>::max();

}  // namespace

std::optional<AddressFamily> parseAddressFamily(std::string_view text) {
  auto t = lower(text);
  if (t == "ipv4" || t == "v4" || t == "a") return AddressFamily::ipv4;
  if (t == "ipv6" || t == "v6" || t == "aaaa") return AddressFamily::ipv6;
  if (t == "any" || t == "a+aaaa" || t == "both") return AddressFamily::any;
  return std::nullopt;
}

std::optional<DnsQueryType> parseDnsQueryType(std::string_view text) {
  auto t = lower(text);
  if (t == "srv") return DnsQueryType{DnsRecordKind::srv, AddressFamily::any};
  if (t == "address") return DnsQueryType{DnsRecordKind::address, AddressFamily::any};
  if (auto family = parseAddressFamily(t);
      family && t != "any" && t != "both" && t != "v4" && t != "v6" && t != "ipv4" && t != "ipv6") {
    return DnsQueryType{DnsRecordKind::address, *family};
  }
  return std::nullopt;
}

struct DnsSource::Impl : std::enable_shared_from_this<Impl> {
  struct Watch {
    ares_socket_t fd;
    asio::posix::stream_descriptor desc;  // owns a dup() of fd: c-ares closes its own
    bool want_read = false, want_write = false;
    bool reading = false, writing = false;
    bool closed = false;
    Watch(ares_socket_t f, const asio::any_io_executor& ex) : fd(f), desc(ex) {}
  };

  // Addresses of one name, from one or two queries.
  struct NameResult {
    std::vector<std::string> addresses;
    std::uint32_t ttl = kNoTtl;
    std::vector<DnsSourceError> failures;  // hard failures (last-known used)
    int nxdomain = 0, nodata = 0, queries = 0;
    std::string first_negative;  // message of an nxdomain/nodata, for reports
  };

  struct PendingQuery {
    std::weak_ptr<Impl> owner;
    std::function<void(int, std::vector<std::uint8_t>)> done;
  };

  asio::any_io_executor executor;
  DnsSourceConfig config;
  UpdateCallback on_update;
  ErrorCallback on_error;
  DnsSourceStats stats;
  ares_channel channel = nullptr;
  asio::steady_timer ares_timer;
  asio::steady_timer round_timer;
  std::map<ares_socket_t, std::shared_ptr<Watch>> watches;
  std::atomic<bool> stopped{false};
  bool started = false;
  bool destroying = false;
  std::uint64_t round = 0;

  std::vector<EndpointSpec> last;
  // Last-known addresses per (name, type), used when a lookup fails.
  std::map<std::pair<std::string, std::uint16_t>, std::vector<std::string>> known;

  Impl(asio::any_io_executor ex, DnsSourceConfig cfg, UpdateCallback update, ErrorCallback error)
      : executor(ex),
        config(std::move(cfg)),
        on_update(std::move(update)),
        on_error(std::move(error)),
        ares_timer(ex),
        round_timer(ex) {}

  void init() {
    aresLibraryInit();
    ares_options opts{};
    opts.sock_state_cb = &Impl::onSockState;
    opts.sock_state_cb_data = this;
    opts.timeout = static_cast<int>(std::max<milliseconds::rep>(1, config.timeout.count()));
    opts.tries = std::max(1, config.tries);
    // NOCHECKRESP: hand SERVFAIL/REFUSED answers back as such. Without it
    // c-ares 1.18 moves on to the next server and, once out of servers and
    // tries, reports ARES_ECONNREFUSED, indistinguishable from an
    // unreachable server. The cost: a SERVFAIL from the first server to
    // answer ends that query (the round is retried after negative_ttl).
    opts.flags = ARES_FLAG_NOCHECKRESP;
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS;
    int status = ares_init_options(&channel, &opts, mask);
    if (status != ARES_SUCCESS) {
      channel = nullptr;
      throw std::runtime_error(std::string("dns: ares_init_options: ") + ares_strerror(status));
    }
    if (!config.servers.empty()) {
      std::string csv;
      for (const auto& s : config.servers) {
        if (!csv.empty()) csv += ",";
        csv += serverToCsv(s);
      }
      status = ares_set_servers_ports_csv(channel, csv.c_str());
      if (status != ARES_SUCCESS) {
        throw std::invalid_argument("dns: servers '" + csv + "': " + ares_strerror(status));
      }
    }
  }

  ~Impl() {
    destroying = true;
    for (auto& [fd, w] : watches) {
      w->closed = true;
      boost::system::error_code ec;
      w->desc.close(ec);
    }
    watches.clear();
    if (channel) ares_destroy(channel);  // pending queries: ARES_EDESTRUCTION, ignored
  }

  // ---- c-ares <-> Asio -------------------------------------------------

  static void onSockState(void* data, ares_socket_t fd, int readable, int writable) {
    static_cast<Impl*>(data)->sockState(fd, readable != 0, writable != 0);
  }

  void sockState(ares_socket_t fd, bool readable, bool writable) {
    if (destroying) return;
    auto it = watches.find(fd);
    if (!readable && !writable) {
      // c-ares is about to close fd.
      if (it != watches.end()) {
        it->second->closed = true;
        boost::system::error_code ec;
        it->second->desc.close(ec);
        watches.erase(it);
      }
      return;
    }
    if (it == watches.end()) {
      int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
      if (copy < 0) return;  // cannot watch it: the ares timer still drives timeouts
      auto watch = std::make_shared<Watch>(fd, executor);
      boost::system::error_code ec;
      watch->desc.assign(copy, ec);
      if (ec) {
        ::close(copy);
        return;
      }
      it = watches.emplace(fd, std::move(watch)).first;
    }
    it->second->want_read = readable;
    it->second->want_write = writable;
    arm(it->second);
  }

  void arm(const std::shared_ptr<Watch>& w) {
    if (w->closed || stopped) return;
    if (w->want_read && !w->reading) {
      w->reading = true;
      w->desc.async_wait(asio::posix::stream_descriptor::wait_read,
                         [self = shared_from_this(), w](const boost::system::error_code& ec) {
                           w->reading = false;
                           if (ec || w->closed || self->stopped || !w->want_read) return;
                           ares_process_fd(self->channel, w->fd, ARES_SOCKET_BAD);
                           self->rearmTimer();
                           self->arm(w);
                         });
    }
    if (w->want_write && !w->writing) {
      w->writing = true;
      w->desc.async_wait(asio::posix::stream_descriptor::wait_write,
                         [self = shared_from_this(), w](const boost::system::error_code& ec) {
                           w->writing = false;
                           if (ec || w->closed || self->stopped || !w->want_write) return;
                           ares_process_fd(self->channel, ARES_SOCKET_BAD, w->fd);
                           self->rearmTimer();
                           self->arm(w);
                         });
    }
  }

  // Retransmits and timeouts: wake when c-ares next needs to look.
  void rearmTimer() {
    if (stopped || !channel) return;
    timeval tv{};
    timeval* next = ares_timeout(channel, nullptr, &tv);
    if (!next) {
      ares_timer.cancel();
      return;
    }
    ares_timer.expires_after(std::chrono::seconds(next->tv_sec) + std::chrono::microseconds(next->tv_usec));
    ares_timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->stopped) return;
      self->processDue();
      self->rearmTimer();
    });
  }

  // The timer only says a c-ares deadline is due. On a busy main thread the
  // answer may already sit in a socket whose readiness handler is queued
  // behind this one; ares_process_fd(BAD, BAD) does not read sockets, so it
  // would time the query out (on its last try: reported as a timeout, or
  // answered by a later try). Read every socket holding data first, then let
  // c-ares process its deadlines. poll(), not fd_set: the proxy's fds may
  // exceed FD_SETSIZE.
  void processDue() {
    std::vector<pollfd> ready;
    ready.reserve(watches.size());
    for (const auto& [fd, w] : watches) {
      if (w->want_read && !w->closed) ready.push_back(pollfd{fd, POLLIN, 0});
    }
    if (!ready.empty() && ::poll(ready.data(), ready.size(), 0) > 0) {
      for (const auto& p : ready) {
        // An earlier call may have closed it (c-ares closes idle sockets).
        if ((p.revents & (POLLIN | POLLERR | POLLHUP)) == 0 || !watches.count(p.fd)) continue;
        ares_process_fd(channel, p.fd, ARES_SOCKET_BAD);
      }
    }
    ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  }

  void query(const std::string& name, std::uint16_t type, std::function<void(int, std::vector<std::uint8_t>)> done) {
    stats.queries.fetch_add(1, std::memory_order_relaxed);
    auto* pending = new PendingQuery{weak_from_this(), std::move(done)};
    ares_query(channel, name.c_str(), kClassIn, type, &Impl::onAnswer, pending);
    rearmTimer();
  }

  static void onAnswer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    std::unique_ptr<PendingQuery> pending(static_cast<PendingQuery*>(arg));
    if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) return;
    auto self = pending->owner.lock();
    if (!self || self->stopped) return;
    std::vector<std::uint8_t> bytes;
    if (abuf && alen > 0) bytes.assign(abuf, abuf + alen);
    // Continue outside ares_process_fd: the continuation issues new queries.
    asio::post(self->executor, [self, done = std::move(pending->done), status, bytes = std::move(bytes)]() mutable {
      if (!self->stopped) done(status, std::move(bytes));
    });
  }

  // ---- reporting -------------------------------------------------------

  void report(std::string kind, std::string message) {
    stats.errors.fetch_add(1, std::memory_order_relaxed);
    if (kind == "nxdomain") stats.nxdomain.fetch_add(1, std::memory_order_relaxed);
    if (kind == "servfail" || kind == "refused") stats.servfail.fetch_add(1, std::memory_order_relaxed);
    if (kind == "timeout") stats.timeouts.fetch_add(1, std::memory_order_relaxed);
    if (kind == "empty") stats.empty_answers.fetch_add(1, std::memory_order_relaxed);
    if (on_error) on_error(DnsSourceError{std::move(kind), std::move(message)});
  }

  void scheduleNext(milliseconds delay) {
    stats.next_refresh_ms.store(delay.count(), std::memory_order_relaxed);
    round_timer.expires_after(delay);
    round_timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->stopped) return;
      self->startRound();
    });
  }

  milliseconds clampTtl(std::uint32_t ttl_seconds) const {
    milliseconds ttl = ttl_seconds == kNoTtl ? config.max_ttl : milliseconds(std::int64_t{ttl_seconds} * 1000);
    return std::clamp(ttl, config.min_ttl, config.max_ttl);
  }

  // A failed round: keep the last-known set, retry after negative_ttl.
  void failRound(std::string kind, std::string message) {
    report(std::move(kind),
           std::move(message) + "; keeping the last-known set (" + std::to_string(last.size()) + " endpoints)");
    scheduleNext(config.negative_ttl);
  }

  // An authoritative empty answer: warms an unwarmed source with the empty
  // set; otherwise like a failure.
  void emptyRound(std::string message) {
    failRound("empty", std::move(message));
    if (!stats.warmed.load()) deliver(last);
  }

  void deliver(std::vector<EndpointSpec> specs) {
    if (stats.warmed.load() && sameSpecs(specs, last)) return;
    last = std::move(specs);
    stats.warmed.store(true);
    stats.updates.fetch_add(1, std::memory_order_relaxed);
    if (on_update) on_update(last);
  }

  // ---- resolution rounds ------------------------------------------------

  std::vector<std::uint16_t> addressTypes() const {
    switch (config.family) {
      case AddressFamily::ipv4: return {kTypeA};
      case AddressFamily::ipv6: return {kTypeAaaa};
      case AddressFamily::any: break;
    }
    return {kTypeA, kTypeAaaa};
  }

  // Resolves `name` to addresses (A and/or AAAA); an IP literal resolves to itself.
  void resolveName(const std::string& name, std::function<void(NameResult)> done) {
    if (isIpv4(name) || isIpv6(name)) {
      NameResult r;
      r.addresses.push_back(name);
      done(std::move(r));
      return;
    }
    auto types = addressTypes();
    auto result = std::make_shared<NameResult>();
    auto remaining = std::make_shared<std::size_t>(types.size());
    for (auto type : types) {
      query(name, type, [this, name, type, result, remaining, done](int status, std::vector<std::uint8_t> bytes) {
        auto outcome = classify(status, bytes, name, type);
        auto key = std::make_pair(name, type);
        ++result->queries;
        std::vector<std::string> found;
        if (outcome.cls == Outcome::Cls::ok) {
          auto answer = extractAddresses(outcome.message_parsed, name, type);
          if (answer.addresses.empty()) {
            outcome.cls = Outcome::Cls::nodata;
            outcome.message = std::string(typeName(type)) + " " + name + ": no records";
          } else {
            result->ttl = std::min(result->ttl, answer.ttl);
            found = std::move(answer.addresses);
            known[key] = found;
          }
        }
        switch (outcome.cls) {
          case Outcome::Cls::ok: break;
          case Outcome::Cls::nodata:
          case Outcome::Cls::nxdomain:
            (outcome.cls == Outcome::Cls::nxdomain ? result->nxdomain : result->nodata)++;
            if (result->first_negative.empty()) result->first_negative = outcome.message;
            known.erase(key);
            break;
          case Outcome::Cls::failure:
            result->failures.push_back(DnsSourceError{outcome.kind, outcome.message});
            if (auto it = known.find(key); it != known.end()) found = it->second;
            break;
        }
        for (auto& a : found) {
          if (std::find(result->addresses.begin(), result->addresses.end(), a) == result->addresses.end()) {
            result->addresses.push_back(std::move(a));
          }
        }
        if (--*remaining == 0) done(std::move(*result));
      });
    }
  }

  void startRound() {
    if (stopped) return;
    std::uint64_t id = ++round;
    stats.rounds.fetch_add(1, std::memory_order_relaxed);
    try {
      if (config.kind == DnsRecordKind::srv) {
        query(config.name, kTypeSrv, [this, id](int status, std::vector<std::uint8_t> bytes) {
          if (id != round) return;
          onSrvAnswer(id, status, bytes);
        });
      } else {
        resolveName(config.name, [this, id](NameResult r) {
          if (id != round) return;
          onAddressAnswer(std::move(r));
        });
      }
    } catch (const std::exception& e) {
      failRound("internal", e.what());
    }
  }

  void onAddressAnswer(NameResult r) {
    if (r.addresses.empty()) {
      if (!r.failures.empty()) return failRound(r.failures.front().kind, r.failures.front().message);
      if (r.nxdomain == r.queries) return failRound("nxdomain", r.first_negative);
      return emptyRound(r.first_negative.empty() ? config.name + ": no addresses" : r.first_negative);
    }
    for (const auto& f : r.failures) report(f.kind, f.message + "; using the last-known addresses of " + config.name);
    std::vector<EndpointSpec> specs;
    for (const auto& a : r.addresses) specs.push_back(EndpointSpec{a, config.port, {}});
    std::sort(specs.begin(), specs.end(), [](const EndpointSpec& a, const EndpointSpec& b) {
      return std::tie(a.host, a.port) < std::tie(b.host, b.port);
    });
    auto next = clampTtl(r.ttl);
    if (!r.failures.empty()) next = std::min(next, config.negative_ttl);
    deliver(std::move(specs));
    scheduleNext(next);
  }

  void onSrvAnswer(std::uint64_t id, int status, const std::vector<std::uint8_t>& bytes) {
    auto outcome = classify(status, bytes, config.name, kTypeSrv);
    switch (outcome.cls) {
      case Outcome::Cls::failure: return failRound(outcome.kind, outcome.message);
      case Outcome::Cls::nxdomain: return failRound("nxdomain", outcome.message);
      case Outcome::Cls::nodata: return emptyRound(outcome.message);
      case Outcome::Cls::ok: break;
    }
    auto records = extractSrv(outcome.message_parsed, config.name);
    std::uint32_t srv_ttl = kNoTtl;
    std::map<std::string, std::vector<SrvAnswer>> by_target;
    for (auto& rec : records) {
      srv_ttl = std::min(srv_ttl, rec.ttl);
      if (rec.target.empty()) continue;  // "." : no service at this record
      by_target[rec.target].push_back(rec);
    }
    if (by_target.empty()) {
      return emptyRound("SRV " + config.name + (records.empty() ? ": no SRV records" : ": target \".\" (no service)"));
    }
    struct Gather {
      std::map<std::string, NameResult> results;
      std::size_t remaining = 0;
    };
    auto gather = std::make_shared<Gather>();
    gather->remaining = by_target.size();
    for (const auto& [target, recs] : by_target) {
      resolveName(target, [this, id, target, gather, by_target, srv_ttl](NameResult r) {
        gather->results[target] = std::move(r);
        if (--gather->remaining != 0 || id != round) return;
        finishSrv(by_target, gather->results, srv_ttl);
      });
    }
  }

  void finishSrv(const std::map<std::string, std::vector<SrvAnswer>>& by_target,
                 const std::map<std::string, NameResult>& results, std::uint32_t ttl) {
    std::map<std::pair<std::string, std::uint16_t>, EndpointSpec> chosen;
    std::map<std::pair<std::string, std::uint16_t>, std::pair<std::uint16_t, std::uint16_t>> rank;
    bool degraded = false;
    std::optional<DnsSourceError> first_failure;
    for (const auto& [target, recs] : by_target) {
      const auto& r = results.at(target);
      if (r.addresses.empty() || !r.failures.empty()) {
        degraded = degraded || !r.failures.empty();
        std::string why = !r.failures.empty()        ? r.failures.front().message
                          : r.first_negative.empty() ? target + ": no addresses"
                                                     : r.first_negative;
        if (!r.failures.empty() && !first_failure) first_failure = r.failures.front();
        report("target_unresolved", "SRV " + config.name + " target " + why +
                                        (r.addresses.empty() ? "" : "; using its last-known addresses"));
      }
      if (!r.addresses.empty()) ttl = std::min(ttl, r.ttl);
      for (const auto& rec : recs) {
        for (const auto& address : r.addresses) {
          auto key = std::make_pair(address, rec.port);
          auto this_rank = std::make_pair(rec.priority, static_cast<std::uint16_t>(65535 - rec.weight));
          auto it = rank.find(key);
          if (it != rank.end() && it->second <= this_rank) continue;
          rank[key] = this_rank;
          chosen[key] = EndpointSpec{address,
                                     rec.port,
                                     {{"srv_priority", std::to_string(rec.priority)},
                                      {"srv_weight", std::to_string(rec.weight)},
                                      {"srv_target", target}}};
        }
      }
    }
    // Forget the addresses of targets no longer in the answer.
    for (auto it = known.begin(); it != known.end();) {
      if (it->first.first != config.name && !by_target.count(it->first.first)) {
        it = known.erase(it);
      } else {
        ++it;
      }
    }
    if (chosen.empty()) {
      if (first_failure)
        return failRound(first_failure->kind,
                         "SRV " + config.name + ": no target resolved (" + first_failure->message + ")");
      return emptyRound("SRV " + config.name + ": no target has an address");
    }
    std::vector<EndpointSpec> specs;
    specs.reserve(chosen.size());
    for (auto& [key, spec] : chosen) specs.push_back(std::move(spec));  // map order: (host, port)
    auto next = clampTtl(ttl);
    if (degraded) next = std::min(next, config.negative_ttl);
    deliver(std::move(specs));
    scheduleNext(next);
  }

  void shutdown() {
    round_timer.cancel();
    ares_timer.cancel();
    if (channel) ares_cancel(channel);  // callbacks: ARES_ECANCELLED, ignored
    for (auto& [fd, w] : watches) {
      boost::system::error_code ec;
      w->desc.cancel(ec);
    }
  }
};

DnsSource::DnsSource(asio::any_io_executor executor, DnsSourceConfig config, UpdateCallback on_update,
                     ErrorCallback on_error) {
  if (config.name.empty()) throw std::invalid_argument("dns: name is required");
  if (config.kind == DnsRecordKind::address && config.port == 0) {
    throw std::invalid_argument("dns: a port is required for A/AAAA records");
  }
  if (config.min_ttl <= milliseconds(0) || config.max_ttl <= milliseconds(0) ||
      config.negative_ttl <= milliseconds(0) || config.timeout <= milliseconds(0)) {
    throw std::invalid_argument("dns: min_ttl, max_ttl, negative_ttl and timeout must be positive");
  }
  if (config.min_ttl > config.max_ttl) throw std::invalid_argument("dns: min_ttl is greater than max_ttl");
  for (const auto& s : config.servers) serverToCsv(s);  // validates
  config.name = normalizeDnsName(config.name);
  impl_ = std::make_shared<Impl>(executor, std::move(config), std::move(on_update), std::move(on_error));
  impl_->init();
}

DnsSource::~DnsSource() {
  stop();
}

void DnsSource::start() {
  if (impl_->started || impl_->stopped) return;
  impl_->started = true;
  asio::post(impl_->executor, [impl = impl_] { impl->startRound(); });
}

void DnsSource::stop() {
  if (!impl_ || impl_->stopped.exchange(true)) return;
  impl_->on_update = nullptr;
  impl_->on_error = nullptr;
  asio::post(impl_->executor, [impl = impl_] { impl->shutdown(); });
}

const DnsSourceStats& DnsSource::stats() const {
  return impl_->stats;
}
const DnsSourceConfig& DnsSource::config() const {
  return impl_->config;
}

}  // namespace hawser::discovery::dns
