// Self-registration: the sidecar registers its own task in Cloud Map once the
// local app answers its health check, reports the app's health while
// registered (UpdateInstanceCustomHealthStatus), and deregisters on drain.
//
// These are control-plane calls (RegisterInstance, DeregisterInstance,
// UpdateInstanceCustomHealthStatus, ListNamespaces, ListServices) to
// https://servicediscovery.<region>.amazonaws.com (no `data-` prefix) or the
// configured endpoint as given, AWS JSON 1.1, SigV4-signed for
// `servicediscovery`. RegisterInstance needs the ServiceId: it is resolved
// once from the namespace and service names (ListNamespaces with a NAME
// filter, then ListServices with a NAMESPACE_ID filter).
//
// Everything runs on the executor given to the constructor (the main
// context); no call ever blocks it. Failed calls are reported through the
// error callback and retried with exponential backoff.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>

#include "discovery/cloudmap/credentials_provider.h"
#include "discovery/cloudmap/http_client.h"

namespace hawser::discovery::cloudmap {

inline constexpr std::string_view kRegisterInstanceTarget = "Route53AutoNaming_v20170314.RegisterInstance";
inline constexpr std::string_view kDeregisterInstanceTarget = "Route53AutoNaming_v20170314.DeregisterInstance";
inline constexpr std::string_view kUpdateInstanceCustomHealthStatusTarget =
    "Route53AutoNaming_v20170314.UpdateInstanceCustomHealthStatus";
inline constexpr std::string_view kListNamespacesTarget = "Route53AutoNaming_v20170314.ListNamespaces";
inline constexpr std::string_view kListServicesTarget = "Route53AutoNaming_v20170314.ListServices";

// "https://servicediscovery.<region>.amazonaws.com" unless `override_endpoint`
// is non-empty (then used exactly as given).
std::string cloudMapControlEndpoint(std::string_view region, std::string_view override_endpoint = {});

struct InstanceRegistrationConfig {
  std::string endpoint;  // empty: https://servicediscovery.<region>.amazonaws.com
  std::string region = "us-east-1";
  std::string namespace_name;
  std::string service_name;
  std::string instance_id;
  std::map<std::string, std::string> attributes;  // AWS_INSTANCE_IPV4 / _PORT included
  std::chrono::milliseconds request_timeout{5000};
  std::chrono::milliseconds min_backoff{250};
  std::chrono::milliseconds max_backoff{30000};
};

// What /server_info reports.
enum class RegistrationState { unregistered, registered, unhealthy };
std::string_view toString(RegistrationState state);

struct RegistrationError {
  // "transport", "credentials", "aws_error", "throttled", "http_error",
  // "not_json", "wrong_type", "not_found" (namespace or service),
  // "no_custom_health", "internal".
  std::string kind;
  std::string operation;  // "RegisterInstance", ...
  std::string message;
  unsigned http_status = 0;
};

struct InstanceRegistrationStats {
  std::atomic<std::uint64_t> calls{0};
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::uint64_t> registrations{0};
  std::atomic<std::uint64_t> health_updates{0};
  std::atomic<std::uint64_t> deregistrations{0};
};

class InstanceRegistration {
 public:
  using ErrorCallback = std::function<void(const RegistrationError& error)>;
  // Progress for log lines: "registered", "marked UNHEALTHY", "deregistered", ...
  using EventCallback = std::function<void(const std::string& event)>;

  // Throws std::invalid_argument for an unusable endpoint or empty names.
  InstanceRegistration(boost::asio::any_io_executor executor, InstanceRegistrationConfig config,
                       std::shared_ptr<CredentialsProvider> credentials, ErrorCallback on_error = {},
                       EventCallback on_event = {}, HttpTransport transport = {});
  ~InstanceRegistration();
  InstanceRegistration(const InstanceRegistration&) = delete;
  InstanceRegistration& operator=(const InstanceRegistration&) = delete;

  void start();
  // The latest result of the app's health check. The first healthy result
  // registers the instance; afterwards a change is reported as the custom
  // health status (when the service has HealthCheckCustomConfig).
  void setAppHealthy(bool healthy);
  // Stops registering and updating, and deregisters the instance (when it is,
  // or may be, registered), retrying with backoff. `done` runs once on the
  // executor when the instance is known to be gone.
  void deregister(std::function<void()> done);
  // No call or callback after this (the call in flight is abandoned).
  void stop();

  RegistrationState state() const;
  const InstanceRegistrationStats& stats() const;
  const std::string& endpointUrl() const;
  const std::string& instanceId() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// The local app's HTTP health check: GET `url` every `interval`; healthy on
// a 2xx within `timeout`. Runs on the executor; the callback gets every
// result (healthy, and a short reason when not).
struct AppHealthCheckConfig {
  std::string url;  // http://host:port/path
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds timeout{1000};
};

class AppHealthCheck {
 public:
  using ResultCallback = std::function<void(bool healthy, const std::string& detail)>;
  AppHealthCheck(boost::asio::any_io_executor executor, AppHealthCheckConfig config, ResultCallback on_result,
                 HttpTransport transport = {});
  ~AppHealthCheck();
  AppHealthCheck(const AppHealthCheck&) = delete;
  AppHealthCheck& operator=(const AppHealthCheck&) = delete;
  void start();
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace hawser::discovery::cloudmap
