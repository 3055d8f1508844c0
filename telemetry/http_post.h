// What the exporters hand their batches to: one POST through an injected
// transport (dataplane/server.cpp passes discovery's HTTP client, tests a
// fake), and the retry loop both the span exporter and the capture shipper
// use: 429/502/503/504 and transport failures retried with jittered
// exponential backoff, a Retry-After in seconds honoured, a deadline that
// ends the retries (a drain's).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace hawser::telemetry {

struct HttpPost {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{10000};
};
struct HttpReply {
  std::string error;  // transport failure; empty when a response arrived
  unsigned status = 0;
  std::string retry_after;  // the Retry-After value, if any
};
using HttpTransport = std::function<boost::asio::awaitable<HttpReply>(HttpPost)>;

struct RetryPolicy {
  unsigned max_attempts = 5;  // 0: until the deadline
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_max{5000};
  std::chrono::milliseconds max_retry_after{30000};  // a longer Retry-After gives up
};

struct PostOutcome {
  bool ok = false;
  std::string error;  // the last failure, for the log
};

// Sends `post` until a 2xx, a refusal that is not retryable, the attempts
// are used up or `deadline` (read before every attempt: a shutdown may move
// it) passes. Waits on `timer`; cancelling it cuts a backoff short.
class Retrier {
 public:
  // `on_retry` (optional) hears each failure that will be retried, e.g. to log the first of a streak.
  boost::asio::awaitable<PostOutcome> post(const HttpTransport& transport, HttpPost& post, const RetryPolicy& policy,
                                           boost::asio::steady_timer& timer,
                                           const std::chrono::steady_clock::time_point& deadline,
                                           const std::function<void(const std::string&)>& on_retry = {});

 private:
  uint64_t jitter_ = 0x9e3779b97f4a7c15ull;
};

}  // namespace hawser::telemetry
