#include "discovery/cloudmap/instance_registration.h"

#include "discovery/cloudmap/cloudmap_request.h"

#include <algorithm>
#include <optional>
#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include "discovery/aws/cloudmap_codec.h"
#include "discovery/aws/sigv4.h"
#include "policy/backoff.h"
#include "policy/random.h"

// See cloudmap_source.cpp: GCC 12 -O2 false positive on Asio coroutine frames.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace hawser::discovery::cloudmap {
namespace asio = boost::asio;
namespace json = boost::json;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

std::string cloudMapControlEndpoint(std::string_view region, std::string_view override_endpoint) {
  if (!override_endpoint.empty()) return std::string(override_endpoint);
  return "https://servicediscovery." + std::string(region) + ".amazonaws.com";
}

std::string_view toString(RegistrationState state) {
  switch (state) {
    case RegistrationState::registered: return "registered";
    case RegistrationState::unhealthy: return "unhealthy";
    default: return "unregistered";
  }
}

namespace {
struct ParsedUrl {
  std::string url;          // scheme://host[:port]/
  std::string host_header;  // as signed
};

ParsedUrl parseBaseUrl(const std::string& url, const char* what) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed || (parsed->scheme() != "http" && parsed->scheme() != "https") || parsed->encoded_host().empty()) {
    throw std::invalid_argument(std::string(what) + ": endpoint '" + url + "' is not an http:// or https:// URL");
  }
  ParsedUrl out;
  out.host_header = std::string(parsed->encoded_host_and_port());
  if ((parsed->scheme() == "https" && parsed->port() == "443") ||
      (parsed->scheme() == "http" && parsed->port() == "80")) {
    out.host_header = std::string(parsed->encoded_host());
  }
  out.url = std::string(parsed->scheme()) + "://" + std::string(parsed->encoded_host_and_port()) + "/";
  return out;
}

// What the loop wants the registry to hold.
enum class Want { nothing_yet, healthy, unhealthy, gone };
}  // namespace

struct InstanceRegistration::Impl : std::enable_shared_from_this<Impl> {
  asio::any_io_executor executor;
  InstanceRegistrationConfig config;
  std::shared_ptr<CredentialsProvider> credentials;
  ErrorCallback on_error;
  EventCallback on_event;
  HttpTransport transport;
  InstanceRegistrationStats stats;
  ParsedUrl base;
  asio::steady_timer timer;
  policy::Random rng{std::random_device{}()};
  bool started = false;
  bool stopped = false;
  bool woken = false;  // a state change arrived while no wait was pending

  Want want = Want::nothing_yet;
  std::optional<std::string> service_id;
  bool custom_health = false;     // the service has HealthCheckCustomConfig
  bool registered = false;        // RegisterInstance succeeded
  bool maybe_registered = false;  // a RegisterInstance was sent (its outcome may be unknown)
  Want reported = Want::healthy;  // the custom health status last set (a new instance starts HEALTHY)
  bool warned_no_custom_health = false;
  std::uint32_t failures = 0;
  std::function<void()> on_deregistered;
  std::atomic<RegistrationState> state{RegistrationState::unregistered};

  Impl(asio::any_io_executor ex, InstanceRegistrationConfig cfg, std::shared_ptr<CredentialsProvider> creds,
       ErrorCallback error, EventCallback event, HttpTransport t)
      : executor(ex),
        config(std::move(cfg)),
        credentials(std::move(creds)),
        on_error(std::move(error)),
        on_event(std::move(event)),
        transport(t ? std::move(t) : makeHttpTransport(ex)),
        timer(ex) {}

  void report(std::string kind, std::string_view op, std::string message, unsigned status = 0) {
    stats.errors.fetch_add(1, std::memory_order_relaxed);
    if (on_error) on_error(RegistrationError{std::move(kind), std::string(op), std::move(message), status});
  }
  void event(const std::string& what) {
    if (on_event) on_event(what);
  }
  void updateState() {
    RegistrationState s = RegistrationState::unregistered;
    if (registered) s = want == Want::unhealthy ? RegistrationState::unhealthy : RegistrationState::registered;
    state.store(s);
  }
  void wake() {
    woken = true;
    timer.cancel();
  }

  // One signed call. Returns the decoded 2xx JSON object; on any failure
  // reports it and returns nullopt with the AWS error type in `error_type`.
  asio::awaitable<std::optional<json::object>> call(std::string_view target, const json::object& body_obj,
                                                    std::string* error_type = nullptr) {
    const std::string_view op = target.substr(target.find('.') + 1);
    stats.calls.fetch_add(1, std::memory_order_relaxed);
    std::string body = json::serialize(body_obj);
    std::optional<aws::Credentials> creds;
    if (credentials) {
      creds = credentials->current();
      if (!creds) {
        report("credentials", op, "no AWS credentials available yet (" + credentials->describe() + ")");
        co_return std::nullopt;
      }
    }
    auto request = makeCloudMapRequest(base.url, base.host_header, target, std::move(body), config.request_timeout,
                                       config.region, creds ? &*creds : nullptr);
    auto response = co_await transport(std::move(request));
    if (stopped) co_return std::nullopt;
    if (!response.error.empty()) {
      report("transport", op, response.error);
      co_return std::nullopt;
    }
    if (response.status < 200 || response.status > 299) {
      auto e = aws::decodeAwsError(response.status, response.body, response.header("x-amzn-errortype"));
      if (error_type) *error_type = e.type;
      std::string message = e.type.empty() ? e.message : e.type + ": " + e.message;
      report(std::string(aws::toString(e.kind)), op, std::move(message), e.http_status);
      co_return std::nullopt;
    }
    boost::system::error_code ec;
    auto v = json::parse(response.body.empty() ? std::string_view("{}") : std::string_view(response.body), ec);
    if (ec) {
      report("not_json", op, "response is not JSON: " + ec.message(), response.status);
      co_return std::nullopt;
    }
    if (!v.is_object()) {
      report("wrong_type", op, "response is not a JSON object", response.status);
      co_return std::nullopt;
    }
    co_return std::move(v.get_object());
  }

  static std::string str(const json::object& o, std::string_view key) {
    auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
  }

  // ListNamespaces (NAME filter) then ListServices (NAMESPACE_ID filter), paginated.
  asio::awaitable<bool> resolveService() {
    std::string namespace_id;
    std::string token;
    do {
      json::object req{
          {"Filters",
           json::array{json::object{
               {"Name", "NAME"}, {"Values", json::array{json::string(config.namespace_name)}}, {"Condition", "EQ"}}}}};
      if (!token.empty()) req["NextToken"] = token;
      auto res = co_await call(kListNamespacesTarget, req);
      if (!res) co_return false;
      auto* list = res->if_contains("Namespaces");
      if (list && !list->is_array()) {
        report("wrong_type", "ListNamespaces", "Namespaces is not a list");
        co_return false;
      }
      for (const auto& n : list ? list->get_array() : json::array{}) {
        if (n.is_object() && str(n.get_object(), "Name") == config.namespace_name) {
          namespace_id = str(n.get_object(), "Id");
          break;
        }
      }
      token = namespace_id.empty() ? str(*res, "NextToken") : std::string();
    } while (!token.empty());
    if (namespace_id.empty()) {
      report("not_found", "ListNamespaces", "namespace " + config.namespace_name + " not found");
      co_return false;
    }
    do {
      json::object req{{"Filters", json::array{json::object{{"Name", "NAMESPACE_ID"},
                                                            {"Values", json::array{json::string(namespace_id)}},
                                                            {"Condition", "EQ"}}}}};
      if (!token.empty()) req["NextToken"] = token;
      auto res = co_await call(kListServicesTarget, req);
      if (!res) co_return false;
      auto* list = res->if_contains("Services");
      if (list && !list->is_array()) {
        report("wrong_type", "ListServices", "Services is not a list");
        co_return false;
      }
      for (const auto& s : list ? list->get_array() : json::array{}) {
        if (!s.is_object() || str(s.get_object(), "Name") != config.service_name) continue;
        auto id = str(s.get_object(), "Id");
        if (id.empty()) continue;
        service_id = id;
        custom_health = s.get_object().contains("HealthCheckCustomConfig");
        event("resolved service " + config.namespace_name + "/" + config.service_name + " to " + id +
              (custom_health ? "" : " (no HealthCheckCustomConfig: app health is not reported)"));
        co_return true;
      }
      token = str(*res, "NextToken");
    } while (!token.empty());
    report("not_found", "ListServices",
           "service " + config.service_name + " not found in namespace " + config.namespace_name + " (" + namespace_id +
               ")");
    co_return false;
  }

  json::object instanceRequest() const {
    return json::object{{"ServiceId", *service_id}, {"InstanceId", config.instance_id}};
  }

  asio::awaitable<bool> registerOnce() {
    auto req = instanceRequest();
    json::object attrs;
    for (const auto& [k, v] : config.attributes) attrs[k] = v;
    req["Attributes"] = std::move(attrs);
    maybe_registered = true;
    if (!co_await call(kRegisterInstanceTarget, req)) co_return false;
    registered = true;
    reported = Want::healthy;
    stats.registrations.fetch_add(1, std::memory_order_relaxed);
    event("registered");
    co_return true;
  }

  asio::awaitable<bool> updateHealth(Want status) {
    auto req = instanceRequest();
    const char* text = status == Want::healthy ? "HEALTHY" : "UNHEALTHY";
    req["Status"] = text;
    std::string type;
    if (!co_await call(kUpdateInstanceCustomHealthStatusTarget, req, &type)) {
      if (type == "CustomHealthNotFound") {
        custom_health = false;  // nothing to retry: the service cannot take it
        co_return true;
      }
      if (type == "InstanceNotFound") registered = false;  // removed behind our back: register again
      co_return false;
    }
    reported = status;
    stats.health_updates.fetch_add(1, std::memory_order_relaxed);
    event(std::string("marked ") + text);
    co_return true;
  }

  asio::awaitable<bool> deregisterOnce() {
    std::string type;
    if (!co_await call(kDeregisterInstanceTarget, instanceRequest(), &type) && type != "InstanceNotFound") {
      co_return false;
    }
    stats.deregistrations.fetch_add(1, std::memory_order_relaxed);
    event("deregistered");
    co_return true;
  }

  asio::awaitable<void> wait(SteadyClock::duration d) {
    timer.expires_after(d);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }

  asio::awaitable<void> run() {
    auto self = shared_from_this();
    while (!stopped) {
      bool ok = true;
      bool acted = false;
      woken = false;
      try {
        if (want == Want::gone) {
          if (maybe_registered && service_id) {
            acted = true;
            ok = co_await deregisterOnce();
          }
          if (ok && !stopped) {
            registered = maybe_registered = false;
            updateState();
            if (auto done = std::move(on_deregistered)) done();
            co_return;
          }
        } else if (want != Want::nothing_yet) {
          if (!service_id) {
            acted = true;
            ok = co_await resolveService();
          } else if (!registered && want == Want::healthy) {
            acted = true;
            ok = co_await registerOnce();
          } else if (registered && reported != want) {
            if (custom_health) {
              acted = true;
              ok = co_await updateHealth(want);
            }
            if (!custom_health && !warned_no_custom_health) {
              warned_no_custom_health = true;
              report("no_custom_health", "UpdateInstanceCustomHealthStatus",
                     "service " + config.service_name +
                         " has no HealthCheckCustomConfig: the app's health cannot be reported to Cloud Map");
            }
            if (!custom_health) reported = want;
          }
        }
      } catch (const std::exception& e) {
        report("internal", "", e.what());
        ok = false;
      }
      if (stopped) co_return;
      updateState();
      if (!ok) {
        policy::BackoffPolicy backoff{config.min_backoff, std::max(config.min_backoff, config.max_backoff)};
        auto delay = policy::backoffDelay(backoff, failures++, rng);
        if (!woken) co_await wait(std::chrono::duration_cast<SteadyClock::duration>(delay));
        continue;
      }
      failures = 0;
      if (acted || woken) continue;
      co_await wait(SteadyClock::duration::max() / 4);
    }
  }
};

InstanceRegistration::InstanceRegistration(asio::any_io_executor executor, InstanceRegistrationConfig config,
                                           std::shared_ptr<CredentialsProvider> credentials, ErrorCallback on_error,
                                           EventCallback on_event, HttpTransport transport) {
  if (config.namespace_name.empty()) throw std::invalid_argument("registration: namespace is required");
  if (config.service_name.empty()) throw std::invalid_argument("registration: service is required");
  if (config.instance_id.empty()) throw std::invalid_argument("registration: instance id is required");
  auto base = parseBaseUrl(cloudMapControlEndpoint(config.region, config.endpoint), "registration");
  impl_ = std::make_shared<Impl>(executor, std::move(config), std::move(credentials), std::move(on_error),
                                 std::move(on_event), std::move(transport));
  impl_->base = std::move(base);
}

InstanceRegistration::~InstanceRegistration() {
  stop();
}

void InstanceRegistration::start() {
  if (impl_->started) return;
  impl_->started = true;
  if (impl_->credentials) impl_->credentials->start();
  asio::co_spawn(impl_->executor, impl_->run(), asio::detached);
}

void InstanceRegistration::setAppHealthy(bool healthy) {
  auto& i = *impl_;
  if (i.stopped || i.want == Want::gone) return;
  Want w = healthy ? Want::healthy : Want::unhealthy;
  if (w == i.want) return;
  i.want = w;
  i.updateState();
  i.wake();
}

void InstanceRegistration::deregister(std::function<void()> done) {
  auto& i = *impl_;
  if (i.stopped) return;
  i.on_deregistered = std::move(done);
  i.want = Want::gone;
  if (!i.started) {
    start();
  }
  i.wake();
}

void InstanceRegistration::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  impl_->on_error = nullptr;
  impl_->on_event = nullptr;
  impl_->on_deregistered = nullptr;
  auto impl = impl_;
  asio::post(impl_->executor, [impl] { impl->timer.cancel(); });
}

RegistrationState InstanceRegistration::state() const {
  return impl_->state.load();
}
const InstanceRegistrationStats& InstanceRegistration::stats() const {
  return impl_->stats;
}
const std::string& InstanceRegistration::endpointUrl() const {
  return impl_->base.url;
}
const std::string& InstanceRegistration::instanceId() const {
  return impl_->config.instance_id;
}

// ------------------------------------------------------------------ app health

struct AppHealthCheck::Impl : std::enable_shared_from_this<Impl> {
  asio::any_io_executor executor;
  AppHealthCheckConfig config;
  ResultCallback on_result;
  HttpTransport transport;
  asio::steady_timer timer;
  bool started = false;
  bool stopped = false;

  Impl(asio::any_io_executor ex, AppHealthCheckConfig cfg, ResultCallback cb, HttpTransport t)
      : executor(ex),
        config(std::move(cfg)),
        on_result(std::move(cb)),
        transport(t ? std::move(t) : makeHttpTransport(ex)),
        timer(ex) {}

  asio::awaitable<void> run() {
    auto self = shared_from_this();
    while (!stopped) {
      HttpRequest request;
      request.method = "GET";
      request.url = config.url;
      request.timeout = config.timeout;
      request.headers = {{"User-Agent", "hawser-health-check"}};
      auto started_at = SteadyClock::now();
      bool healthy = false;
      std::string detail;
      try {
        auto response = co_await transport(std::move(request));
        if (!response.error.empty()) {
          detail = response.error;
        } else if (response.status < 200 || response.status > 299) {
          detail = "HTTP " + std::to_string(response.status);
        } else {
          healthy = true;
        }
      } catch (const std::exception& e) {
        detail = e.what();
      }
      if (stopped) co_return;
      if (on_result) on_result(healthy, detail);
      if (stopped) co_return;
      timer.expires_at(started_at + config.interval);
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }
};

AppHealthCheck::AppHealthCheck(asio::any_io_executor executor, AppHealthCheckConfig config, ResultCallback on_result,
                               HttpTransport transport) {
  parseBaseUrl(config.url, "app health check");
  impl_ = std::make_shared<Impl>(executor, std::move(config), std::move(on_result), std::move(transport));
}

AppHealthCheck::~AppHealthCheck() {
  stop();
}

void AppHealthCheck::start() {
  if (impl_->started) return;
  impl_->started = true;
  asio::co_spawn(impl_->executor, impl_->run(), asio::detached);
}

void AppHealthCheck::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  impl_->on_result = nullptr;
  auto impl = impl_;
  asio::post(impl_->executor, [impl] { impl->timer.cancel(); });
}

}  // namespace hawser::discovery::cloudmap
