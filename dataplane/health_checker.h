// Active health checks of one service's endpoints (`health_check`): an HTTP
// GET of `path` on each endpoint every `interval` (jittered by up to 10%),
// over the same mutual TLS as traffic, answered 2xx within `timeout` to pass.
// `unhealthy` consecutive failures take an endpoint out of the load
// balancer's candidates; `healthy` consecutive passes bring it back. An
// endpoint never checked yet is out until its first pass (as in Envoy), so a
// new instance takes traffic only once it answers; when too few are usable,
// panic mode (policy/healthy_hosts.h) still spreads traffic over all.
//
// Runs on one worker's thread (it uses that worker's TLS context and
// connector); the endpoint flags it sets are atomics every worker reads.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>

#include "dataplane/cluster.h"
#include "dataplane/config/config.h"
#include "policy/random.h"

namespace hawser {

class Worker;

class HealthChecker : public std::enable_shared_from_this<HealthChecker> {
 public:
  HealthChecker(Worker& worker, std::shared_ptr<Cluster> cluster, config::HealthCheck check);
  // Any thread: starts the checks on the worker / stops them (in-flight checks finish, then end).
  void start();
  void stop();
  // Any thread: runs a round now (new endpoints wait for their first pass).
  void checkNow();
  const Cluster* cluster() const { return cluster_.get(); }

 private:
  struct State {
    uint32_t passes = 0;
    uint32_t failures = 0;
    bool checked = false;  // has a first result
    bool in_flight = false;
  };
  boost::asio::awaitable<void> loop();
  boost::asio::awaitable<void> checkOne(discovery::EndpointPtr ep);
  // Result of one GET: empty when it passed, else why it failed.
  boost::asio::awaitable<std::string> probe(const discovery::EndpointPtr& ep);
  void record(const discovery::EndpointPtr& ep, const std::string& failure);

  Worker& worker_;
  std::shared_ptr<Cluster> cluster_;
  config::HealthCheck check_;
  boost::asio::steady_timer timer_;
  std::atomic<bool> stopped_{false};
  std::unordered_map<const discovery::Endpoint*, State> states_;  // worker thread only
  policy::Random rng_;
};

}  // namespace hawser
