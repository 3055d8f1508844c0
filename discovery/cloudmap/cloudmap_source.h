// The Cloud Map API discovery source: polls DiscoverInstancesRevision (cheap)
// and DiscoverInstances (when the revision moved, and every health_refresh,
// because health changes do not move the revision), SigV4-signed for
// `servicediscovery`, with jitter, and hands each changed endpoint set to a
// callback. On any error it keeps the last-known set, counts the error and
// reports it; throttling backs off exponentially.
//
// Everything runs on the executor given to the constructor (the main
// context); callbacks are invoked there. Stats are atomics, readable from any
// thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "discovery/aws/cloudmap_codec.h"
#include "discovery/cloudmap/credentials_provider.h"
#include "discovery/cloudmap/http_client.h"

namespace hawser::discovery::cloudmap {

struct CloudMapSourceConfig {
  // http:// or https:// base URL; empty: https://data-servicediscovery.<region>.amazonaws.com
  std::string endpoint;
  std::string region = "us-east-1";
  std::string namespace_name;
  std::string service_name;
  aws::HealthStatusFilter health_status = aws::HealthStatusFilter::healthy;
  std::map<std::string, std::string> query_parameters;
  std::map<std::string, std::string> optional_parameters;
  std::string owner_account;  // shared namespaces; empty: own account
  std::optional<int> max_results;
  std::chrono::milliseconds poll_interval{5000};
  std::chrono::milliseconds health_refresh{30000};
  double jitter = 0.1;  // each wait is poll_interval * (1 +- jitter)
  std::chrono::milliseconds request_timeout{5000};
  std::chrono::milliseconds max_backoff{60000};  // ceiling of the throttling backoff
};

// One degraded event, for a log line and hawser_discovery_errors_total.
struct CloudMapSourceError {
  // Stable, low-cardinality: "transport", "credentials", "throttled",
  // "aws_error", "http_error", "not_json", "wrong_type", "missing_attribute",
  // "bad_port", "bad_address", "empty_list", "skipped_instance".
  std::string kind;
  std::string message;  // human readable; never holds a secret
  unsigned http_status = 0;
};

struct CloudMapSourceStats {
  std::atomic<std::uint64_t> polls{0};              // poll rounds
  std::atomic<std::uint64_t> revision_requests{0};  // DiscoverInstancesRevision calls
  std::atomic<std::uint64_t> full_requests{0};      // DiscoverInstances calls
  std::atomic<std::uint64_t> updates{0};            // callback invocations
  std::atomic<std::uint64_t> errors{0};             // every CloudMapSourceError (incl. the below)
  std::atomic<std::uint64_t> throttled{0};
  std::atomic<std::uint64_t> skipped_instances{0};
  std::atomic<std::uint64_t> empty_lists{0};
  std::atomic<std::int64_t> revision{-1};  // last InstancesRevision applied
  std::atomic<bool> warmed{false};         // a first answer was delivered
};

class CloudMapSource {
 public:
  // Sorted by (host, port, instance id). Every attribute is kept.
  using UpdateCallback = std::function<void(const std::vector<aws::Endpoint>& endpoints)>;
  using ErrorCallback = std::function<void(const CloudMapSourceError& error)>;

  // `credentials` may be null: requests then go unsigned (a local registry
  // without --credentials). `transport` defaults to the real HTTP(S) client.
  // Throws std::invalid_argument for an unusable endpoint URL or empty
  // namespace/service name (config time).
  CloudMapSource(boost::asio::any_io_executor executor, CloudMapSourceConfig config,
                 std::shared_ptr<CredentialsProvider> credentials, UpdateCallback on_update,
                 ErrorCallback on_error = {}, HttpTransport transport = {});
  ~CloudMapSource();
  CloudMapSource(const CloudMapSource&) = delete;
  CloudMapSource& operator=(const CloudMapSource&) = delete;

  // Starts polling at once (the first round is a full DiscoverInstances).
  void start();
  // Stops after the request in flight, if any; no callback runs afterwards.
  void stop();

  const CloudMapSourceStats& stats() const;
  // The endpoint URL actually used.
  const std::string& endpointUrl() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace hawser::discovery::cloudmap
