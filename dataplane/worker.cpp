#include "dataplane/worker.h"

#include "dataplane/accept_backoff.h"
#include "dataplane/contained_spawn.h"
#include "dataplane/http/observers.h"
#include "dataplane/sessions.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace hawser {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
asio::awaitable<void> acceptLoop(Worker& w, std::shared_ptr<tcp::acceptor> acceptor, std::string key) {
  AcceptBackoff backoff(key, w.metrics().serving_errors.accept_errors);
  while (auto socket = co_await backoff.accept(*acceptor)) w.spawnSession(key, std::move(*socket));
}
}  // namespace

void Worker::spawnSession(const std::string& key, tcp::socket socket) {
  const auto* spec = snapshot_->findListener(key);
  if (!spec) return;  // removed by a reload; the socket closes
  boost::system::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  metrics_.downstream_accepted.Increment();
  auto& errors = metrics_.serving_errors.internal_errors;
  if (spec->transparent) {
    spawnContained(ctx_, serveTransparent(*this, std::move(socket), key), key, errors);
  } else if (spec->protocol == config::Protocol::tcp) {
    spawnContained(ctx_, serveTcp(*this, std::move(socket), key), key, errors);
  } else {
    spawnContained(ctx_, serveHttp(*this, std::move(socket), key), key, errors);
  }
}

void Worker::setSnapshot(std::shared_ptr<const Snapshot> s) {
  observers_ = compileObservers({s ? s->config.get() : nullptr, &access_log_, &tracer_, &shipper_, id_});
  snapshot_ = std::move(s);
}

prometheus::Counter& Worker::localReplyCounter(LocalReply r) {
  auto& c = reply_counters_[static_cast<size_t>(r) < reply_counters_.size() ? static_cast<size_t>(r) : 0];
  if (!c) c = &metrics_.rejected(info(r).reason);
  return *c;
}

Worker::Worker(unsigned id, telemetry::WorkerMetrics& metrics, telemetry::AccessLog& access_log,
               telemetry::TraceExporter& tracer, telemetry::CaptureShipper& shipper)
    : id_(id),
      metrics_(metrics),
      access_log_(access_log),
      tracer_(tracer),
      shipper_(shipper),
      pool_(ctx_.get_executor(), metrics) {}

Worker::~Worker() {
  stop();
  // Sessions still suspended (cut off at the drain timeout) hold guards and
  // pooled connections that point into this Worker: end them first.
  ctx_.destroyPendingWork();
}

void Worker::start() {
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(ctx_);
    ctx_.run();
  });
}

void Worker::stop() {
  ctx_.stop();
  if (thread_.joinable()) thread_.join();
}

void Worker::addListener(const std::string& key, std::shared_ptr<tcp::acceptor> acceptor) {
  acceptors_[key] = acceptor;
  spawnContained(ctx_, acceptLoop(*this, acceptor, key), "accept " + key, metrics_.serving_errors.internal_errors);
}

void Worker::removeListener(const std::string& key) {
  auto it = acceptors_.find(key);
  if (it == acceptors_.end()) return;
  boost::system::error_code ignored;
  it->second->close(ignored);
  acceptors_.erase(it);
}

void Worker::beginDrain() {
  draining_ = true;
  boost::system::error_code ignored;
  // Connections the kernel already completed are taken and served before
  // the listener closes; closing with them queued would reset them.
  for (auto& [key, acceptor] : acceptors_) {
    acceptor->non_blocking(true, ignored);
    for (;;) {
      tcp::socket s(ctx_);
      acceptor->accept(s, ignored);
      if (ignored) break;
      spawnSession(key, std::move(s));
    }
    acceptor->close(ignored);
  }
  acceptors_.clear();
  for (auto& c : connections_) {
    if (c.idle && c.socket->available(ignored) == 0) c.socket->shutdown(tcp::socket::shutdown_both, ignored);
  }
  pool_.clear();
}

void Worker::closeConnections() {
  boost::system::error_code ignored;
  // Closing cancels the sessions' pending operations; their handlers run
  // later, so the list does not change under this loop.
  for (auto& c : connections_) c.socket->close(ignored);
}

std::list<ConnectionEntry>::iterator Worker::track(tcp::socket* s) {
  active_.fetch_add(1, std::memory_order_relaxed);
  metrics_.downstream_active.Increment();
  return connections_.insert(connections_.end(), ConnectionEntry{s, false});
}

void Worker::untrack(std::list<ConnectionEntry>::iterator it) {
  connections_.erase(it);
  metrics_.downstream_active.Decrement();
  active_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace hawser
