// The DNS discovery source: resolves one name through c-ares, driven by Asio
// (c-ares' socket-state callback maps each resolver socket to an
// asio::posix::stream_descriptor readiness wait; an asio::steady_timer runs
// ares_timeout()/ares_process_fd() for retransmits and timeouts), and hands
// each changed endpoint set to a callback.
//
//  * kind srv: one SRV query for `name`; target and port come from the
//    records; each target is then resolved to A and/or AAAA (`family`).
//    Endpoint attributes: "srv_priority", "srv_weight", "srv_target".
//  * kind address: A and/or AAAA queries for `name`, every address with the
//    configured `port`.
//
// TTLs: taken from the raw answers (discovery/dns/dns_message.h; c-ares 1.18's
// ares_parse_srv_reply has no TTLs), the minimum over every record used in a
// round (SRV, CNAMEs followed, A/AAAA of each target), clamped to
// [min_ttl, max_ttl]. The next round starts in the background when that
// clamped TTL expires — never on a request path.
//
// Failures keep the last-known set: NXDOMAIN, SERVFAIL, REFUSED, timeouts,
// unparseable answers and empty answers (NODATA, an SRV "." target, no
// address for any target) are reported through the error callback, counted,
// and retried after `negative_ttl`. A target whose own lookup fails keeps its
// last-known addresses for that round (and is reported); a target that
// answers NXDOMAIN/NODATA simply contributes none. An empty first answer
// (NODATA) warms the source with an empty set, as the Cloud Map source does
// with an empty instance list; NXDOMAIN and transport errors do not warm it.
//
// Everything runs on the executor given to the constructor, which must be
// single-threaded (a c-ares channel is not thread-safe; the main context);
// callbacks are invoked there. Stats are atomics, readable from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "discovery/endpoint.h"

namespace hawser::discovery::dns {

enum class DnsRecordKind { srv, address };
// Which address records are asked for: the name's (kind address) or each
// SRV target's (kind srv).
enum class AddressFamily { ipv4, ipv6, any };

// "srv" | "a" | "aaaa" | "a+aaaa" (also "address" = a+aaaa), case-insensitive.
struct DnsQueryType {
  DnsRecordKind kind;
  AddressFamily family;
};
std::optional<DnsQueryType> parseDnsQueryType(std::string_view text);
// "ipv4" | "ipv6" | "any" (also "v4", "v6", "a", "aaaa", "a+aaaa").
std::optional<AddressFamily> parseAddressFamily(std::string_view text);

struct DnsSourceConfig {
  // "ip:port", "ip" (port 53), "[ipv6]:port"; empty: the system's
  // /etc/resolv.conf (c-ares' own reading of it).
  std::vector<std::string> servers;
  std::string name;  // e.g. "_http._tcp.svc.local" (srv) or "svc.local" (address); queried as is, no search list
  DnsRecordKind kind = DnsRecordKind::srv;
  AddressFamily family = AddressFamily::any;
  std::uint16_t port = 0;  // kind address: required (1-65535); kind srv: ignored
  std::chrono::milliseconds min_ttl{1000};
  std::chrono::milliseconds max_ttl{300000};
  std::chrono::milliseconds negative_ttl{5000};  // retry interval after any failure
  std::chrono::milliseconds timeout{2000};       // per attempt (c-ares doubles it on later attempts)
  int tries = 2;                                 // attempts per server
};

// One degraded event, for a log line and hawser_discovery_errors_total.
struct DnsSourceError {
  // Stable, low-cardinality: "nxdomain", "servfail", "refused", "timeout",
  // "connection" (connection refused / network error), "bad_answer",
  // "empty" (NODATA, SRV ".", no address at all), "target_unresolved"
  // (one SRV target failed; the round continued), "internal".
  std::string kind;
  std::string message;  // human readable: names the query
};

struct DnsSourceStats {
  std::atomic<std::uint64_t> rounds{0};   // resolution rounds started
  std::atomic<std::uint64_t> queries{0};  // DNS queries issued (SRV + A + AAAA)
  std::atomic<std::uint64_t> updates{0};  // callback invocations
  std::atomic<std::uint64_t> errors{0};   // every DnsSourceError (incl. the below)
  std::atomic<std::uint64_t> nxdomain{0};
  std::atomic<std::uint64_t> servfail{0};  // SERVFAIL and REFUSED
  std::atomic<std::uint64_t> timeouts{0};
  std::atomic<std::uint64_t> empty_answers{0};
  std::atomic<std::int64_t> next_refresh_ms{-1};  // delay chosen after the last round
  std::atomic<bool> warmed{false};                // a first answer was delivered
};

class DnsSource {
 public:
  // Sorted by (host, port); one entry per host:port (the lowest SRV priority wins).
  using UpdateCallback = std::function<void(const std::vector<EndpointSpec>& endpoints)>;
  using ErrorCallback = std::function<void(const DnsSourceError& error)>;

  // Throws std::invalid_argument at config time: empty name, kind address
  // without a port, a server that is not "ip[:port]", non-positive clamps or
  // min_ttl > max_ttl; std::runtime_error if c-ares cannot be initialised.
  DnsSource(boost::asio::any_io_executor executor, DnsSourceConfig config, UpdateCallback on_update,
            ErrorCallback on_error = {});
  ~DnsSource();
  DnsSource(const DnsSource&) = delete;
  DnsSource& operator=(const DnsSource&) = delete;

  // Starts the first round at once.
  void start();
  // Cancels queries in flight; no callback runs afterwards. Safe to call
  // from the executor's thread (and from the destructor).
  void stop();

  const DnsSourceStats& stats() const;
  const DnsSourceConfig& config() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace hawser::discovery::dns
