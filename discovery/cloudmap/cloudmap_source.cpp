#include "discovery/cloudmap/cloudmap_source.h"

#include "discovery/cloudmap/cloudmap_request.h"

#include <algorithm>
#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/url/parse.hpp>

#include "discovery/aws/sigv4.h"
#include "policy/backoff.h"
#include "policy/random.h"

// GCC 12 at -O2 reports a false -Wmismatched-new-delete on Asio's coroutine
// frame allocator (operator new/delete are a matching pair in
// awaitable_frame_base); seen on pollOnce's frame only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace hawser::discovery::cloudmap {
namespace asio = boost::asio;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

struct CloudMapSource::Impl : std::enable_shared_from_this<Impl> {
  asio::any_io_executor executor;
  CloudMapSourceConfig config;
  std::shared_ptr<CredentialsProvider> credentials;
  UpdateCallback on_update;
  ErrorCallback on_error;
  HttpTransport transport;
  CloudMapSourceStats stats;
  std::string url;          // endpoint with a path
  std::string host_header;  // host[:port] as signed
  asio::steady_timer timer;
  bool stopped = false;
  bool started = false;
  policy::Random rng{std::random_device{}()};

  // Poll state.
  std::optional<std::int64_t> revision;  // of the set we hold
  SteadyClock::time_point next_full{};
  bool force_full = true;
  std::uint32_t consecutive_throttles = 0;
  std::vector<aws::Endpoint> last;

  Impl(asio::any_io_executor ex, CloudMapSourceConfig cfg, std::shared_ptr<CredentialsProvider> creds,
       UpdateCallback update, ErrorCallback error, HttpTransport t)
      : executor(ex),
        config(std::move(cfg)),
        credentials(std::move(creds)),
        on_update(std::move(update)),
        on_error(std::move(error)),
        transport(t ? std::move(t) : makeHttpTransport(ex)),
        timer(ex) {}

  void report(std::string kind, std::string message, unsigned status = 0) {
    stats.errors.fetch_add(1, std::memory_order_relaxed);
    if (on_error) on_error(CloudMapSourceError{std::move(kind), std::move(message), status});
  }

  void reportCloudMapError(const aws::CloudMapError& e) {
    if (e.kind == aws::CloudMapError::Kind::throttled) {
      stats.throttled.fetch_add(1, std::memory_order_relaxed);
      ++consecutive_throttles;
    } else {
      consecutive_throttles = 0;
    }
    std::string message = e.message;
    if (!e.type.empty()) message = e.type + ": " + message;
    report(std::string(aws::toString(e.kind)), std::move(message), e.http_status);
  }

  // Returns nullopt after reporting a transport or credentials problem.
  asio::awaitable<std::optional<HttpResponse>> call(std::string_view target, std::string body) {
    std::optional<aws::Credentials> creds;
    if (credentials) {
      creds = credentials->current();
      if (!creds) {
        consecutive_throttles = 0;
        report("credentials", "no AWS credentials available yet (" + credentials->describe() + ")");
        co_return std::nullopt;
      }
    }
    auto request = makeCloudMapRequest(url, host_header, target, std::move(body), config.request_timeout, config.region,
                                       creds ? &*creds : nullptr);
    auto response = co_await transport(std::move(request));
    if (!response.error.empty()) {
      consecutive_throttles = 0;
      report("transport", response.error);
      co_return std::nullopt;
    }
    co_return response;
  }

  asio::awaitable<void> pollOnce() {
    stats.polls.fetch_add(1, std::memory_order_relaxed);
    auto now = SteadyClock::now();
    bool full = force_full || !revision || now >= next_full;
    if (!full) {
      stats.revision_requests.fetch_add(1, std::memory_order_relaxed);
      auto response = co_await call(
          aws::kDiscoverInstancesRevisionTarget,
          aws::encodeDiscoverInstancesRevision(config.namespace_name, config.service_name, config.owner_account));
      if (!response || stopped) co_return;
      auto result =
          aws::decodeDiscoverInstancesRevision(response->status, response->body, response->header("x-amzn-errortype"));
      if (auto* e = std::get_if<aws::CloudMapError>(&result)) {
        reportCloudMapError(*e);
        co_return;
      }
      consecutive_throttles = 0;
      if (std::get<std::int64_t>(result) == *revision) co_return;
      full = true;
    }

    stats.full_requests.fetch_add(1, std::memory_order_relaxed);
    aws::DiscoverInstancesRequest req;
    req.namespace_name = config.namespace_name;
    req.service_name = config.service_name;
    req.health_status = config.health_status;
    req.query_parameters = config.query_parameters;
    req.optional_parameters = config.optional_parameters;
    req.max_results = config.max_results;
    req.owner_account = config.owner_account;
    auto response = co_await call(aws::kDiscoverInstancesTarget, aws::encodeDiscoverInstances(req));
    if (!response || stopped) co_return;
    auto result = aws::decodeDiscoverInstances(response->status, response->body, response->header("x-amzn-errortype"));
    if (auto* e = std::get_if<aws::CloudMapError>(&result)) {
      reportCloudMapError(*e);
      co_return;
    }
    consecutive_throttles = 0;
    auto& found = std::get<aws::DiscoveredInstances>(result);
    for (const auto& skipped : found.skipped) {
      stats.skipped_instances.fetch_add(1, std::memory_order_relaxed);
      report("skipped_instance", "instance " + skipped.instance_id + " skipped (" +
                                     std::string(aws::toString(skipped.reason)) + "): " + skipped.detail);
    }
    if (found.empty_instance_list) {
      // Policy (discovery/aws/README.md): an empty answer never replaces a
      // non-empty set; it is counted and the next round asks again in full.
      stats.empty_lists.fetch_add(1, std::memory_order_relaxed);
      report("empty_list", "DiscoverInstances returned no instances for " + config.namespace_name + "/" +
                               config.service_name + "; keeping the last-known set");
      force_full = true;
      if (!stats.warmed.load()) {
        stats.warmed.store(true);
        stats.updates.fetch_add(1, std::memory_order_relaxed);
        if (on_update) on_update(last);
      }
      co_return;
    }
    std::sort(found.endpoints.begin(), found.endpoints.end(), [](const aws::Endpoint& a, const aws::Endpoint& b) {
      return std::tie(a.host, a.port, a.instance_id) < std::tie(b.host, b.port, b.instance_id);
    });
    force_full = false;
    revision = found.revision;
    if (found.revision) stats.revision.store(*found.revision);
    next_full = now + config.health_refresh;
    if (found.endpoints != last || !stats.warmed.load()) {
      last = std::move(found.endpoints);
      stats.warmed.store(true);
      stats.updates.fetch_add(1, std::memory_order_relaxed);
      if (on_update) on_update(last);
    }
  }

  SteadyClock::duration nextDelay() {
    auto interval = std::chrono::duration_cast<SteadyClock::duration>(config.poll_interval);
    if (consecutive_throttles > 0) {
      policy::BackoffPolicy backoff{interval, std::max<SteadyClock::duration>(interval, config.max_backoff)};
      return policy::backoffDelay(backoff, consecutive_throttles, rng);
    }
    double j = std::clamp(config.jitter, 0.0, 1.0);
    double factor = 1.0 + j * (2.0 * policy::uniformUnit(rng) - 1.0);
    return std::chrono::duration_cast<SteadyClock::duration>(interval * factor);
  }

  asio::awaitable<void> run() {
    auto self = shared_from_this();
    // Container credentials arrive asynchronously: give the first fetch a
    // moment rather than failing the first round.
    if (credentials && !credentials->current()) {
      auto deadline =
          SteadyClock::now() + std::min<SteadyClock::duration>(config.poll_interval, std::chrono::seconds(2));
      while (!stopped && !credentials->current() && SteadyClock::now() < deadline) {
        timer.expires_after(milliseconds(20));
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      }
    }
    while (!stopped) {
      try {
        co_await pollOnce();
      } catch (const std::exception& e) {
        // A bug, not a Cloud Map failure: report it and keep polling.
        report("internal", e.what());
      }
      if (stopped) break;
      timer.expires_after(nextDelay());
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }
};

CloudMapSource::CloudMapSource(asio::any_io_executor executor, CloudMapSourceConfig config,
                               std::shared_ptr<CredentialsProvider> credentials, UpdateCallback on_update,
                               ErrorCallback on_error, HttpTransport transport) {
  if (config.namespace_name.empty()) throw std::invalid_argument("cloudmap: namespace is required");
  if (config.service_name.empty()) throw std::invalid_argument("cloudmap: service is required");
  if (config.poll_interval <= milliseconds(0)) throw std::invalid_argument("cloudmap: poll_interval must be positive");
  std::string url = aws::cloudMapEndpoint(config.region, config.endpoint);
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed || (parsed->scheme() != "http" && parsed->scheme() != "https") || parsed->encoded_host().empty()) {
    throw std::invalid_argument("cloudmap: endpoint '" + url + "' is not an http:// or https:// URL");
  }
  impl_ = std::make_shared<Impl>(executor, std::move(config), std::move(credentials), std::move(on_update),
                                 std::move(on_error), std::move(transport));
  std::string host_header(parsed->encoded_host_and_port());
  // The signed Host omits a default port, as clients send it.
  if ((parsed->scheme() == "https" && parsed->port() == "443") ||
      (parsed->scheme() == "http" && parsed->port() == "80")) {
    host_header = std::string(parsed->encoded_host());
  }
  impl_->host_header = host_header;
  std::string base(parsed->scheme());
  base += "://" + std::string(parsed->encoded_host_and_port()) + "/";
  impl_->url = base;
}

CloudMapSource::~CloudMapSource() {
  stop();
}

void CloudMapSource::start() {
  if (impl_->started) return;
  impl_->started = true;
  if (impl_->credentials) impl_->credentials->start();
  asio::co_spawn(impl_->executor, impl_->run(), asio::detached);
}

void CloudMapSource::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  impl_->on_update = nullptr;
  impl_->on_error = nullptr;
  auto impl = impl_;
  asio::post(impl_->executor, [impl] { impl->timer.cancel(); });
}

const CloudMapSourceStats& CloudMapSource::stats() const {
  return impl_->stats;
}
const std::string& CloudMapSource::endpointUrl() const {
  return impl_->url;
}

}  // namespace hawser::discovery::cloudmap
