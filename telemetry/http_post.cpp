#include "telemetry/http_post.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <charconv>
#include <optional>

// GCC 12 misreads a coroutine frame's sized delete as mismatched.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace hawser::telemetry {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {
bool retryable(unsigned status) {
  return status == 429 || status == 502 || status == 503 || status == 504;
}

// Retry-After as delay-seconds (an HTTP date is not used by collectors or the forwarder).
std::optional<std::chrono::milliseconds> parseRetryAfter(std::string_view v) {
  unsigned seconds = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size()) return std::nullopt;
  return std::chrono::seconds(seconds);
}
}  // namespace

asio::awaitable<PostOutcome> Retrier::post(const HttpTransport& transport, HttpPost& post, const RetryPolicy& policy,
                                           asio::steady_timer& timer, const Clock::time_point& deadline,
                                           const std::function<void(const std::string&)>& on_retry) {
  const auto timeout = post.timeout;
  PostOutcome out;
  for (unsigned attempt = 1;; ++attempt) {
    const auto now = Clock::now();
    if (now >= deadline) {
      out.error = out.error.empty() ? "drain deadline reached" : out.error + "; drain deadline reached";
      co_return out;
    }
    post.timeout = std::min<std::chrono::milliseconds>(
        timeout, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) + std::chrono::milliseconds(1));
    auto reply = co_await transport(post);
    if (reply.error.empty() && reply.status / 100 == 2) {
      out.ok = true;
      co_return out;
    }
    out.error = reply.error.empty() ? "HTTP " + std::to_string(reply.status) : reply.error;
    if (!reply.error.empty() || retryable(reply.status)) {
      if (policy.max_attempts && attempt >= policy.max_attempts) co_return out;
      // Exponential backoff, jittered over its upper half, unless the server said when.
      auto cap = std::min(policy.backoff_max, policy.backoff_base * (1u << std::min(attempt - 1, 10u)));
      jitter_ ^= jitter_ << 13, jitter_ ^= jitter_ >> 7, jitter_ ^= jitter_ << 17;
      std::chrono::milliseconds wait{cap.count() / 2 + static_cast<int64_t>(jitter_ % (cap.count() / 2 + 1))};
      if (auto ra = parseRetryAfter(reply.retry_after)) {
        if (*ra > policy.max_retry_after) co_return out;
        wait = *ra;
      }
      if (Clock::now() + wait >= deadline) {
        out.error += "; no time left to retry before the drain deadline";
        co_return out;
      }
      if (on_retry) on_retry(out.error);
      timer.expires_after(wait);
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    co_return out;
  }
}

}  // namespace hawser::telemetry
