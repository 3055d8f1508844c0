// The resource every exported span carries: who emitted it. hawser's own
// names first, then what the ECS task metadata endpoint says, then
// OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME (the SDK specification's
// order: the environment overrides what is detected).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "telemetry/span.h"

namespace hawser::telemetry {

using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

struct ResourceInput {
  std::string service;      // node.service
  std::string service_ns;   // node.namespace
  std::string instance_id;  // node.instance_id, else the host name
  std::string version;      // hawser's version (service.version is the app's: telemetry.sdk-like key instead)
};

ResourceAttributes baseResource(const ResourceInput& in);
// ECS task metadata v4: `${ECS_CONTAINER_METADATA_URI_V4}/task` and the
// container document. Returns false (and adds nothing) when the task
// document is not the JSON object ECS serves; the container document is
// optional. Untrusted input: fuzzed (tests/fuzz/ecs_metadata_json.cpp).
bool addEcsResource(ResourceAttributes& r, std::string_view task_json, std::string_view container_json);
// OTEL_RESOURCE_ATTRIBUTES (`k=v,k2=v2`, values percent-decoded) and
// OTEL_SERVICE_NAME. A malformed list is ignored whole and reported in `error`.
void addEnvironmentResource(ResourceAttributes& r, const EnvLookup& env, std::string& error);
// The OTEL_* list form (`key=value,key2=value2`, spaces around items
// ignored, keys and values percent-decoded), as OTEL_RESOURCE_ATTRIBUTES
// and OTEL_EXPORTER_OTLP_HEADERS use it; nullopt when malformed.
std::optional<std::vector<std::pair<std::string, std::string>>> parseOtelList(std::string_view list);
// Sets (replacing) one attribute.
void setAttribute(ResourceAttributes& r, std::string_view key, std::string_view value);
const std::string* findAttribute(const ResourceAttributes& r, std::string_view key);

}  // namespace hawser::telemetry
