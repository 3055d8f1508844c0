// Per-worker keep-alive connections to upstream endpoints. Only the owning
// worker's thread touches a pool, so it needs no lock.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <optional>

#include "dataplane/any_stream.h"
#include "dataplane/cluster_policy.h"
#include "discovery/endpoint.h"

namespace hawser::telemetry {
class WorkerMetrics;
}

namespace hawser {

// The read a pooled connection keeps pending (UpstreamPool::release): it sees
// a close or stray bytes while the connection is idle, and when the
// connection is used again it is the first read of the next response. So a
// reused connection needs neither a peek before its request nor a read of its
// own for its response: one system call fewer each, and the speculative read
// Asio would start the response read with is the one made at release.
struct PendingRead {
  explicit PendingRead(const boost::asio::any_io_executor& ex) : wake(ex) {}
  boost::beast::flat_buffer bytes;  // what it read (plaintext)
  boost::system::error_code ec;
  bool active = false;             // started and not taken
  bool done = false;               // its handler ran
  boost::asio::steady_timer wake;  // takePending waits on it; the handler cancels it
};

struct UpstreamConnection {
  UpstreamConnection(AnyStream s, discovery::EndpointPtr ep, telemetry::WorkerMetrics& m);
  ~UpstreamConnection();
  UpstreamConnection(const UpstreamConnection&) = delete;
  UpstreamConnection& operator=(const UpstreamConnection&) = delete;

  AnyStream stream;
  discovery::EndpointPtr endpoint;
  std::string pool_key;       // endpoint key, plus "|tls" for mutual TLS connections
  std::string peer_identity;  // verified identity of a TLS peer
  std::chrono::steady_clock::time_point idle_since;
  std::chrono::steady_clock::time_point idle_until;  // closed by the pool's sweep after this
  std::shared_ptr<ClusterPolicy> limits;             // holds a max_connections slot of this service while open
  bool reused = false;
  uint32_t requests = 0;                 // requests sent on it
  std::shared_ptr<PendingRead> pending;  // made at its first release, reused
  telemetry::WorkerMetrics& metrics;
};

// The first bytes of the response on `up`: from its pending read when it has
// one (waiting for it until `until`), appended to `buf`. A connection without
// one returns at once; the caller reads as usual after.
boost::asio::awaitable<boost::system::error_code> takePending(UpstreamConnection& up, boost::beast::flat_buffer& buf,
                                                              std::chrono::steady_clock::time_point until);

// How to secure a connection to a peer sidecar: mutual TLS with the task's
// client context, accepting only the listed identities.
struct UpstreamTls {
  std::shared_ptr<boost::asio::ssl::context> context;
  const std::vector<std::string>* expected_sans = nullptr;
  std::string server_name;  // SNI
  // Part of the pool key: a connection verified for one set of expected
  // identities is never handed to a service that expects others.
  std::string pool_tag;
};

class UpstreamPool {
 public:
  UpstreamPool(boost::asio::any_io_executor ex, telemetry::WorkerMetrics& metrics)
      : ex_(ex), metrics_(metrics), sweep_timer_(ex) {}

  struct Result {
    boost::system::error_code ec;
    std::unique_ptr<UpstreamConnection> conn;
    std::optional<policy::Threshold> overflow;  // refused by the service's circuit breaker
  };
  // An idle connection to `ep` still alive and idle less than `max_idle`,
  // or a new one connected within `connect_timeout`. With `limits`, a new
  // connection is pending (max_pending) until made, and waits for a free
  // max_connections slot (or an idle connection to `ep`) at most
  // `connect_timeout`. A pooled connection is handed out only after a peek
  // shows nothing waiting on it (no close, no bytes nobody asked for).
  boost::asio::awaitable<Result> acquire(const discovery::EndpointPtr& ep, const UpstreamTls* tls,
                                         std::chrono::milliseconds connect_timeout, std::chrono::milliseconds max_idle,
                                         bool fresh = false, const std::shared_ptr<ClusterPolicy>& limits = nullptr);
  // acquire's first step, without a coroutine: an idle connection to `ep`
  // that passes the same checks, or null.
  std::unique_ptr<UpstreamConnection> reuse(const discovery::EndpointPtr& ep, const UpstreamTls* tls,
                                            std::chrono::milliseconds max_idle);
  // Connects without consulting the pool (tunnels, passthrough).
  boost::asio::awaitable<Result> connect(const discovery::EndpointPtr& ep, const UpstreamTls* tls,
                                         std::chrono::milliseconds timeout);
  // Keeps `conn` for reuse for at most `max_idle`; a sweep once a second
  // closes connections idle longer, or closed by the upstream, so they give
  // back their max_connections slot even when this worker sends nothing more.
  void release(std::unique_ptr<UpstreamConnection> conn, std::chrono::milliseconds max_idle);
  void clear();
  size_t idleCount() const;

 private:
  static constexpr size_t kMaxIdlePerEndpoint = 256;
  boost::asio::any_io_executor ex_;
  telemetry::WorkerMetrics& metrics_;
  std::unique_ptr<UpstreamConnection> takeIdle(const std::string& key, std::chrono::milliseconds max_idle);
  void armSweep(std::chrono::steady_clock::time_point when);
  void sweep();

  std::unordered_map<std::string, std::vector<std::unique_ptr<UpstreamConnection>>> idle_;
  std::string key_;                                // scratch for acquire's first look
  std::list<boost::asio::steady_timer*> waiters_;  // requests waiting for a connection; release wakes them
  boost::asio::steady_timer sweep_timer_;
  bool sweeping_ = false;
};

}  // namespace hawser
