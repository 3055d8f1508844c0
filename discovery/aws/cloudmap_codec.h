// Request and response codec for the Cloud Map data-plane API
// (DiscoverInstances, DiscoverInstancesRevision), AWS JSON 1.1 protocol.
// Pure: bytes in, values out; never throws on malformed input.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace hawser::discovery::aws {

inline constexpr std::string_view kCloudMapContentType = "application/x-amz-json-1.1";
inline constexpr std::string_view kCloudMapSigningName = "servicediscovery";
inline constexpr std::string_view kDiscoverInstancesTarget = "Route53AutoNaming_v20170314.DiscoverInstances";
inline constexpr std::string_view kDiscoverInstancesRevisionTarget =
    "Route53AutoNaming_v20170314.DiscoverInstancesRevision";

// "https://data-servicediscovery.<region>.amazonaws.com" unless `override_endpoint`
// is non-empty; an override is used exactly as given (the SDKs add the
// "data-" host prefix only to the regional endpoint).
std::string cloudMapEndpoint(std::string_view region, std::string_view override_endpoint = {});

enum class HealthStatusFilter { healthy, unhealthy, all, healthy_or_else_all };
std::string_view toString(HealthStatusFilter f);  // "HEALTHY", ...
std::optional<HealthStatusFilter> parseHealthStatusFilter(std::string_view s);

struct DiscoverInstancesRequest {
  std::string namespace_name;
  std::string service_name;
  std::optional<HealthStatusFilter> health_status;
  std::map<std::string, std::string> query_parameters;
  std::map<std::string, std::string> optional_parameters;
  std::optional<int> max_results;  // 1..100; the API's default is 100
  std::string owner_account;       // empty: omitted (own account)
};

// JSON request bodies; empty maps and unset optionals are omitted.
std::string encodeDiscoverInstances(const DiscoverInstancesRequest& request);
std::string encodeDiscoverInstancesRevision(std::string_view namespace_name, std::string_view service_name,
                                            std::string_view owner_account = {});

struct Endpoint {
  std::string host;  // IPv4 dotted quad, or IPv6 without brackets
  uint16_t port = 0;
  std::map<std::string, std::string> attributes;  // every attribute, AWS_* included
  std::string instance_id;

  bool operator==(const Endpoint&) const = default;
};

struct CloudMapError {
  enum class Kind {
    not_json,           // body is not JSON
    wrong_type,         // JSON of the wrong shape (Instances not a list, ...)
    missing_attribute,  // every instance lacked an address or port
    bad_port,           // every instance had an unusable port
    bad_address,        // every instance had an unusable address
    aws_error,          // an AWS error body (__type, message)
    throttled,          // ThrottlingException / RequestLimitExceeded / HTTP 429 or 503
    http_error,         // non-2xx without a recognisable AWS error body
  };
  Kind kind;
  std::string type;     // AWS error type with any "prefix#" stripped; empty otherwise
  std::string message;  // AWS message or a description of what was wrong
  unsigned http_status = 0;
};
std::string_view toString(CloudMapError::Kind kind);

// An instance that could not become an endpoint.
struct SkippedInstance {
  std::string instance_id;
  CloudMapError::Kind reason;  // missing_attribute, bad_port, bad_address or wrong_type
  std::string detail;
};

// Policy for unusable instances: each one is skipped and reported in
// `skipped` (for a counter and a log line) while the rest are served, because
// one badly registered instance must not take a whole service down. If
// instances were listed but *none* is usable, the response is an error instead
// (the kind of the first problem), so the caller keeps its last-known set
// rather than replacing it with nothing.
//
// An empty `Instances` list (or none at all) is valid data: Cloud Map really
// has no instance matching the query. It is returned with
// `empty_instance_list == true` so the caller decides explicitly whether to
// apply it or keep last-known (hawser keeps last-known and counts it).
struct DiscoveredInstances {
  std::vector<Endpoint> endpoints;
  std::optional<int64_t> revision;  // InstancesRevision
  std::vector<SkippedInstance> skipped;
  bool empty_instance_list = false;
};

using DiscoverInstancesResult = std::variant<DiscoveredInstances, CloudMapError>;
using DiscoverInstancesRevisionResult = std::variant<int64_t, CloudMapError>;

// `http_status` and `body` as received; `error_type_header` is the
// X-Amzn-ErrorType header, if any (used when the body has no __type).
DiscoverInstancesResult decodeDiscoverInstances(unsigned http_status, std::string_view body,
                                                std::string_view error_type_header = {});
DiscoverInstancesRevisionResult decodeDiscoverInstancesRevision(unsigned http_status, std::string_view body,
                                                                std::string_view error_type_header = {});

// Decodes an AWS JSON 1.1 error response (used by both decoders; exposed for
// other Cloud Map operations).
CloudMapError decodeAwsError(unsigned http_status, std::string_view body, std::string_view error_type_header = {});
bool isThrottlingErrorType(std::string_view type);

}  // namespace hawser::discovery::aws
