// The request handling of `hawser registry`, as one pure function from a
// request (method, target, headers, body) and the time to a response (status,
// body): SigV4 verification, the optional rate limit, and the Cloud Map API
// subset. No sockets, so it is unit tested in-process
// (tests/unit/discovery/registry_api_test.cpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "discovery/aws/credentials.h"
#include "discovery/aws/sigv4.h"
#include "discovery/registry/registry_state.h"
#include "policy/token_bucket.h"

namespace hawser::discovery::registry {

inline constexpr std::string_view kTargetPrefix = "Route53AutoNaming_v20170314.";

struct RegistryRequest {
  std::string method = "POST";
  std::string target = "/";  // request target as on the request line
  aws::HeaderList headers;   // as received: Host, X-Amz-Target, Authorization, ...
  std::string body;
};

struct RegistryResponse {
  unsigned status = 200;
  std::string body;        // JSON (empty for operations without output)
  std::string operation;   // "DiscoverInstances"; empty when the target was unusable
  std::string error_type;  // "" on success, else the __type (also X-Amzn-ErrorType)
  std::string access_key;  // the verified access key id, when signed
  bool has_session_token = false;
  bool mutated = false;  // the state changed: persist it
};

struct RegistryOptions {
  std::string region = "us-east-1";      // used in ARNs
  std::string account = "123456789012";  // used in ARNs and ResourceOwner
  // When set, every request must carry a valid SigV4 signature by this access
  // key (any session token is accepted).
  std::optional<aws::Credentials> credentials;
  // When set, requests beyond this rate get 429 RequestLimitExceeded.
  std::optional<double> rate_limit_rps;
  std::uint32_t rate_limit_burst = 10;
  std::uint64_t seed = std::random_device{}();  // resource ids
};

class RegistryApi {
 public:
  explicit RegistryApi(RegistryOptions options, RegistryState state = {});

  RegistryResponse handle(const RegistryRequest& request, std::chrono::system_clock::time_point now);

  const RegistryState& state() const { return state_; }

 private:
  struct Context;
  boost::json::object dispatch(std::string_view op, const boost::json::object& in, Context& ctx);

  boost::json::object createHttpNamespace(const boost::json::object& in, Context& ctx);
  boost::json::object createPrivateDnsNamespace(const boost::json::object& in, Context& ctx);
  boost::json::object createNamespace(Namespace ns, Context& ctx);
  boost::json::object deleteNamespace(const boost::json::object& in, Context& ctx);
  boost::json::object getOperation(const boost::json::object& in);
  boost::json::object listNamespaces(const boost::json::object& in);
  boost::json::object getNamespace(const boost::json::object& in);
  boost::json::object createService(const boost::json::object& in, Context& ctx);
  boost::json::object getService(const boost::json::object& in);
  boost::json::object deleteService(const boost::json::object& in, Context& ctx);
  boost::json::object listServices(const boost::json::object& in);
  boost::json::object registerInstance(const boost::json::object& in, Context& ctx);
  boost::json::object deregisterInstance(const boost::json::object& in, Context& ctx);
  boost::json::object getInstance(const boost::json::object& in);
  boost::json::object listInstances(const boost::json::object& in);
  boost::json::object discoverInstances(const boost::json::object& in, bool revision_only);
  boost::json::object getInstancesHealthStatus(const boost::json::object& in);
  boost::json::object updateInstanceCustomHealthStatus(const boost::json::object& in, Context& ctx);

  Namespace& findNamespaceById(std::string_view id_or_arn);
  Service& findService(std::string_view id_or_arn);
  std::string newId(std::string_view prefix, size_t length);
  std::string addOperation(std::string type, std::map<std::string, std::string> targets, std::string creator_request_id,
                           double now);

  RegistryOptions options_;
  RegistryState state_;
  std::optional<policy::TokenBucket> rate_limit_;
  std::mt19937_64 rng_;
};

// The HTTP status the real API uses for an error type (400 when unknown).
unsigned statusForErrorType(std::string_view type);

}  // namespace hawser::discovery::registry
