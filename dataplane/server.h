// The proxy process: the main io_context (admin, signals, reload, discovery
// polling, drain) and the workers. Everything here runs on the main thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <csignal>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/admin_server.h"
#include "dataplane/config/config.h"
#include "dataplane/snapshot.h"
#include "dataplane/worker.h"
#include "discovery/file_source.h"
#include "telemetry/access_log.h"
#include "telemetry/metrics.h"
#include "telemetry/trace_exporter.h"

namespace hawser {

class HealthChecker;

class AdminServer;
class CapturePipeline;
namespace discovery::cloudmap {
class CloudMapSource;
class CredentialsProvider;
class InstanceRegistration;
class AppHealthCheck;
}  // namespace discovery::cloudmap
namespace discovery::dns {
class DnsSource;
}

struct ServerOptions {
  std::string config_path;         // empty: HAWSER_CONFIG / HAWSER_CONFIG_YAML
  std::string admin_address_path;  // where to write the bound admin address
};

class Server final : public AdminSite {
 public:
  enum class State { pre_initializing, live, draining };

  Server(config::Config cfg, ServerOptions options);
  ~Server();

  // Binds, starts the workers and serves until drained. Returns the exit code.
  int run();

  // --- for the admin server (main thread) ---
  State state() const { return state_; }
  // Live, listeners bound and every Cloud Map source has answered once.
  bool ready() const;
  double uptimeSeconds() const;
  std::string configDumpJson() const;
  std::string clustersJson() const;
  std::string listenersJson() const;
  std::string certsJson() const;
  std::string metricsText() const;
  // AdminSite (proxy_admin.cpp)
  std::optional<AdminResponse> serveAdmin(std::string_view method, std::string_view path) override;
  std::string adminEndpoints() const override;
  std::string_view adminHost() const override;
  std::span<const std::string> adminAllowedHosts() const override;
  const std::string& metricsPath() const { return snapshot_->config->metrics_path; }
  bool metricsEnabled() const { return snapshot_->config->metrics_enabled; }
  const config::Config& config() const { return *snapshot_->config; }
  telemetry::MainMetrics& mainMetrics() { return metrics_.main(); }
  // Re-reads the configuration; on failure keeps the old one. Returns the error.
  std::string reload();
  void drain();
  // "disabled" without node.register, else "unregistered" | "registered" | "unhealthy".
  std::string registrationState() const;

 private:
  struct BoundListener {
    std::string name;
    ListenerSpec::Kind kind;
    boost::asio::ip::tcp::endpoint endpoint;  // the address actually bound
    std::vector<std::shared_ptr<boost::asio::ip::tcp::acceptor>> per_worker;
  };

  BoundListener bind(const ListenerSpec& spec);  // throws std::runtime_error
  void publish(std::shared_ptr<const Snapshot> snap, std::map<std::string, BoundListener> added,
               std::vector<std::string> removed);
  // Builds TLS contexts from `files` and hands them to the workers; false
  // (old material kept, failure counted) when the files are not usable.
  bool installTls(const std::optional<config::Tls>& files, std::string& error);
  void watchTlsFiles();
  void syncCloudMapSources();
  void syncDnsSources();
  void applyDiscoveredSet(const std::string& service, const std::vector<discovery::EndpointSpec>& specs,
                          const char* source_name);
  void startFileDiscovery();
  void pollFiles();
  void waitForDrain();
  void handleSignals();
  std::shared_ptr<discovery::cloudmap::CredentialsProvider> awsCredentials();
  // node.register: health-check the app, register once it is healthy. Throws on startup errors.
  void startRegistration();
  // Drain step 1 (with node.register): deregister (bounded wait), keep serving
  // for node.deregister_grace, then closeListenersAndDrain().
  void deregisterThenDrain();
  void closeListenersAndDrain();
  // telemetry.tracing: the exporter's settings from the current snapshot;
  // the first time, its resource (with the ECS task's, when on ECS), then start.
  void configureTracing();
  std::optional<telemetry::ExporterSettings> tracingSettings() const;
  boost::asio::awaitable<void> startTracing();
  telemetry::ResourceAttributes tracing_resource_;
  // The end of a drain: spans and capture records still queued are flushed (bounded), then exit.
  void flushAndExit();
  void exitNow();

  ServerOptions options_;
  boost::asio::io_context main_{1};
  telemetry::Metrics metrics_;
  telemetry::AccessLog access_log_;
  std::unique_ptr<telemetry::TraceExporter> tracer_;  // idle until a snapshot turns tracing on
  bool tracer_started_ = false;
  std::unique_ptr<CapturePipeline> capture_;  // idle until a snapshot turns capture on
  std::vector<std::unique_ptr<Worker>> workers_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::map<std::string, BoundListener> bound_;  // by ListenerSpec::key()
  std::unique_ptr<AdminServer> admin_;
  State state_ = State::pre_initializing;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point drain_deadline_;
  // After the drain timeout: connections were closed; how long their sessions get to end.
  static constexpr std::chrono::milliseconds kCloseGrace{500};
  bool closing_remaining_ = false;
  boost::asio::steady_timer file_timer_{main_};
  boost::asio::steady_timer drain_timer_{main_};
  std::map<std::string, discovery::FileSource> file_sources_;  // by cluster name
  struct CloudMapWatch {
    std::string key;  // what the source was built from; a change rebuilds it
    std::unique_ptr<discovery::cloudmap::CloudMapSource> source;
  };
  std::map<std::string, CloudMapWatch> cloudmap_;  // by service name
  struct DnsWatch {
    std::string key;
    std::unique_ptr<discovery::dns::DnsSource> source;
  };
  std::map<std::string, DnsWatch> dns_;  // by service name
  std::shared_ptr<discovery::cloudmap::CredentialsProvider> aws_credentials_;
  bool aws_credentials_made_ = false;
  std::unique_ptr<discovery::cloudmap::InstanceRegistration> registration_;
  std::unique_ptr<discovery::cloudmap::AppHealthCheck> app_health_;
  bool app_healthy_ = false;
  bool app_health_known_ = false;
  boost::asio::steady_timer deregister_timer_{main_};
  boost::asio::steady_timer grace_timer_{main_};
  std::shared_ptr<const TlsState> tls_;
  TlsFileStamps tls_stamps_;
  boost::asio::steady_timer tls_timer_{main_};
  boost::asio::steady_timer outlier_timer_{main_};
  boost::asio::signal_set signals_{main_, SIGTERM, SIGINT, SIGHUP};
  void evaluateOutliers();
  void syncHealthCheckers();
  void updateEndpointGauges();
  unsigned outlier_ticks_ = 0;
  std::vector<std::shared_ptr<HealthChecker>> health_checkers_;
  int exit_code_ = 0;
};

}  // namespace hawser
