// One worker: a thread running its own io_context, its own SO_REUSEPORT
// acceptors, connection pool and snapshot pointer. Nothing in it is shared
// with other workers; the main thread talks to it only through post().
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <array>
#include <atomic>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <random>
#include <thread>

#include "dataplane/local_reply.h"
#include "dataplane/snapshot.h"
#include "dataplane/tls_state.h"
#include "dataplane/upstream_pool.h"
#include "policy/random.h"

namespace hawser::telemetry {
class WorkerMetrics;
class AccessLog;
class TraceExporter;
class CaptureShipper;
}  // namespace hawser::telemetry
namespace prometheus {
class Counter;
}

namespace hawser {

struct ExchangeObservers;

// A downstream connection as the worker sees it, for drain.
struct ConnectionEntry {
  boost::asio::ip::tcp::socket* socket = nullptr;
  bool idle = false;  // waiting for the next request on a kept-alive connection
};

// The worker's io_context. destroyPendingWork() destroys every coroutine
// frame still suspended in it (sessions cut off at the drain timeout) while
// the Worker they refer to is still whole; ~io_context would do it only after
// the Worker's other members were gone.
class WorkerContext : public boost::asio::io_context {
 public:
  using io_context::io_context;
  void destroyPendingWork() { shutdown(); }
};

class Worker {
 public:
  // `tracer` receives the spans of sampled exchanges when a snapshot turns tracing on,
  // `shipper` the capture records when it turns capture on.
  Worker(unsigned id, telemetry::WorkerMetrics& metrics, telemetry::AccessLog& access_log,
         telemetry::TraceExporter& tracer, telemetry::CaptureShipper& shipper);
  ~Worker();

  unsigned id() const { return id_; }
  boost::asio::io_context& context() { return ctx_; }
  telemetry::WorkerMetrics& metrics() { return metrics_; }
  telemetry::AccessLog& accessLog() { return access_log_; }
  UpstreamPool& pool() { return pool_; }

  void start();
  void stop();  // stops the io_context and joins the thread

  // --- worker thread only ---
  const std::shared_ptr<const Snapshot>& snapshot() const { return snapshot_; }
  // Installs a snapshot and compiles its exchange observers.
  void setSnapshot(std::shared_ptr<const Snapshot> s);
  // The observers of the current snapshot (exchanges keep the ones they began with).
  const std::shared_ptr<const ExchangeObservers>& observers() const { return observers_; }
  // hawser_local_replies_total{reason} of `r`, resolved once per worker.
  prometheus::Counter& localReplyCounter(LocalReply r);
  bool draining() const { return draining_; }
  // Randomness for the worker's connections (retry backoff jitter): one
  // generator per worker rather than 2.5 KiB of state per connection.
  policy::Random& rng() { return rng_; }
  const std::shared_ptr<const TlsState>& tls() const { return tls_; }
  void setTls(std::shared_ptr<const TlsState> t) { tls_ = std::move(t); }
  // Starts accepting on an acceptor the main thread bound for this worker.
  void addListener(const std::string& key, std::shared_ptr<boost::asio::ip::tcp::acceptor> acceptor);
  void removeListener(const std::string& key);
  // Starts the session coroutine for an accepted connection.
  void spawnSession(const std::string& key, boost::asio::ip::tcp::socket socket);
  // Closes every listener and idle keep-alive connection; busy ones close
  // after their current response.
  void beginDrain();
  // The drain timeout: closes every connection still open, so their sessions
  // end (and log) on their own before the process exits.
  void closeConnections();

  std::list<ConnectionEntry>::iterator track(boost::asio::ip::tcp::socket* s);
  void untrack(std::list<ConnectionEntry>::iterator it);

  telemetry::CaptureShipper& shipper() { return shipper_; }

  // Readable from any thread.
  int activeConnections() const { return active_.load(std::memory_order_relaxed); }

 private:
  unsigned id_;
  WorkerContext ctx_{1};
  telemetry::WorkerMetrics& metrics_;
  telemetry::AccessLog& access_log_;
  telemetry::TraceExporter& tracer_;
  telemetry::CaptureShipper& shipper_;
  UpstreamPool pool_;
  std::thread thread_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::shared_ptr<const ExchangeObservers> observers_;
  std::array<prometheus::Counter*, kLocalReplyCount> reply_counters_{};
  std::shared_ptr<const TlsState> tls_;
  bool draining_ = false;
  policy::Random rng_{std::random_device{}()};
  std::list<ConnectionEntry> connections_;
  std::atomic<int> active_{0};
  std::map<std::string, std::shared_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
};

}  // namespace hawser
