#include "dataplane/health_checker.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>

#include "dataplane/contained_spawn.h"
#include "dataplane/inbound_tls.h"
#include "dataplane/worker.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace hawser {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
constexpr auto tok = asio::as_tuple(asio::use_awaitable);

HealthChecker::HealthChecker(Worker& worker, std::shared_ptr<Cluster> cluster, config::HealthCheck check)
    : worker_(worker),
      cluster_(std::move(cluster)),
      check_(std::move(check)),
      timer_(worker.context()),
      rng_(std::random_device{}()) {}

void HealthChecker::start() {
  spawnContained(
      worker_.context(), [self = shared_from_this()] { return self->loop(); }, "health checks " + cluster_->name(),
      worker_.metrics().serving_errors.internal_errors);
}

void HealthChecker::stop() {
  stopped_.store(true);
  checkNow();  // wakes the loop, which sees stopped_ and ends
}

void HealthChecker::checkNow() {
  asio::post(worker_.context(), [self = shared_from_this()] { self->timer_.cancel(); });
}

asio::awaitable<void> HealthChecker::loop() {
  auto self = shared_from_this();
  while (!stopped_.load()) {
    auto set = cluster_->latest();
    // Forget endpoints that left the set; check the others (one at a time each).
    std::erase_if(states_, [&](const auto& kv) {
      for (const auto& e : *set) {
        if (e.get() == kv.first) return false;
      }
      return !kv.second.in_flight;
    });
    for (const auto& ep : *set) {
      auto& st = states_[ep.get()];
      if (!st.checked && !st.in_flight) ep->unhealthy.store(true, std::memory_order_relaxed);  // until it passes
      if (st.in_flight) continue;
      st.in_flight = true;
      spawnContained(worker_.context(), checkOne(ep), "health check " + cluster_->name(),
                     worker_.metrics().serving_errors.internal_errors);
    }
    // Jitter: up to 10% of the interval either way, so sidecars started
    // together do not check in lockstep.
    const auto base = check_.interval.count();
    const auto spread = std::max<int64_t>(1, base / 5);
    const auto jitter = static_cast<int64_t>(policy::uniformBelow(rng_, static_cast<uint64_t>(spread))) - spread / 2;
    timer_.expires_after(std::chrono::milliseconds(std::max<int64_t>(1, base + jitter)));
    co_await timer_.async_wait(tok);
  }
}

asio::awaitable<void> HealthChecker::checkOne(discovery::EndpointPtr ep) {
  auto self = shared_from_this();
  std::string failure = co_await probe(ep);
  if (stopped_.load()) co_return;
  states_[ep.get()].in_flight = false;
  record(ep, failure);
}

asio::awaitable<std::string> HealthChecker::probe(const discovery::EndpointPtr& ep) {
  auto tls = upstreamTls(worker_, *cluster_);
  if (cluster_->mutual_tls && !tls) co_return "no TLS certificate loaded";
  auto r = co_await worker_.pool().connect(ep, tls ? &*tls : nullptr, check_.timeout);
  if (r.ec) co_return "connect: " + r.ec.message();
  auto& stream = r.conn->stream;
  stream.expires_after(check_.timeout);
  http::request<http::empty_body> req{http::verb::get, check_.path, 11};
  req.set(http::field::host, cluster_->name());
  req.set(http::field::user_agent, "hawser-health-check");
  req.set(http::field::connection, "close");
  auto [wec, wn] = co_await http::async_write(stream, req, tok);
  if (wec) co_return "write: " + wec.message();
  beast::flat_buffer buf;
  http::response_parser<http::empty_body> parser;
  parser.skip(true);  // the head is enough
  auto [rec, rn] = co_await http::async_read_header(stream, buf, parser, tok);
  if (rec) co_return rec == beast::error::timeout ? std::string("timeout") : "read: " + rec.message();
  const unsigned status = parser.get().result_int();
  if (status < 200 || status > 299) co_return "status " + std::to_string(status);
  co_return std::string();
}

void HealthChecker::record(const discovery::EndpointPtr& ep, const std::string& failure) {
  auto& st = states_[ep.get()];
  auto& stats = *cluster_->policy_stats[worker_.id()];
  const bool was_unhealthy = ep->unhealthy.load(std::memory_order_relaxed);
  if (failure.empty()) {
    stats.health_pass->Increment();
    st.failures = 0;
    ++st.passes;
    // The first result decides at once; later a healthy threshold applies.
    if (was_unhealthy && (!st.checked || st.passes >= check_.healthy)) {
      ep->unhealthy.store(false, std::memory_order_relaxed);
      log::info("endpoint healthy", {{"service", cluster_->name()}, {"endpoint", ep->key}});
    }
  } else {
    stats.health_fail->Increment();
    st.passes = 0;
    ++st.failures;
    if (!was_unhealthy && st.failures >= check_.unhealthy) {
      ep->unhealthy.store(true, std::memory_order_relaxed);
      log::warn("endpoint unhealthy",
                {{"service", cluster_->name()}, {"endpoint", ep->key}, {"path", check_.path}, {"error", failure}});
    } else if (!st.checked) {
      log::warn("endpoint failed its first health check",
                {{"service", cluster_->name()}, {"endpoint", ep->key}, {"path", check_.path}, {"error", failure}});
    }
  }
  st.checked = true;
}

}  // namespace hawser
