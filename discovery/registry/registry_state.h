// The whole state of `hawser registry`: namespaces, services, instances and
// operations, as plain values, with a JSON form for `--data FILE`.
// No sockets, no clock: timestamps are passed in by the caller.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>

#include <boost/json/object.hpp>

namespace hawser::discovery::registry {

struct Instance {
  std::string id;
  std::map<std::string, std::string> attributes;  // as registered, AWS_* included
  std::string health = "HEALTHY";                 // HEALTHY | UNHEALTHY (custom health)
  std::string creator_request_id;
};

struct Service {
  std::string id;  // "srv-..."
  std::string arn;
  std::string name;
  std::string namespace_id;
  std::string description;
  std::string type;  // HTTP | DNS_HTTP | DNS
  std::string creator_request_id;
  double create_date = 0;  // epoch seconds, as the JSON protocol sends timestamps
  // Echoed back as given (validated on the way in).
  std::optional<boost::json::object> dns_config;
  std::optional<boost::json::object> health_check_config;
  std::optional<boost::json::object> health_check_custom_config;
  std::map<std::string, Instance> instances;  // by instance id
  // InstancesRevision: bumped by register/deregister only, never by a health
  // change (the real API behaves the same, which is why pollers also refresh
  // on a timer).
  int64_t revision = 1;
};

struct Namespace {
  std::string id;  // "ns-..."
  std::string arn;
  std::string name;
  std::string type;  // HTTP | DNS_PRIVATE
  std::string description;
  std::string creator_request_id;
  std::string vpc;             // DNS_PRIVATE only
  std::string hosted_zone_id;  // DNS_PRIVATE only (made up)
  std::optional<int64_t> soa_ttl;
  double create_date = 0;
};

struct Operation {
  std::string id;
  std::string type;    // CREATE_NAMESPACE, REGISTER_INSTANCE, ...
  std::string status;  // always SUCCESS: every change is applied at once
  double create_date = 0;
  std::map<std::string, std::string> targets;  // NAMESPACE/SERVICE/INSTANCE -> id
  std::string creator_request_id;              // for DuplicateRequest detection
};

struct RegistryState {
  std::map<std::string, Namespace> namespaces;  // by id
  std::map<std::string, Service> services;      // by id
  std::map<std::string, Operation> operations;  // by id
  std::deque<std::string> operation_order;      // oldest first, capped

  static constexpr size_t kMaxOperations = 10000;
};

boost::json::object toJson(const RegistryState& state);
// Throws std::runtime_error naming the offending member when `doc` is not a
// state this program wrote.
RegistryState stateFromJson(const boost::json::value& doc);

}  // namespace hawser::discovery::registry
