// `hawser import appmesh`: App Mesh descriptions (the JSON of `aws appmesh
// describe-*` and `list-*`) -> the hawser configuration of one virtual node's
// sidecar, with every field that could not be mapped reported by its JSON path.
// Pure: text in, text out; no files, sockets or environment (import_command.cpp
// reads those).
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "dataplane/config/appmesh/json_field.h"

namespace hawser::config::appmesh {

// hawser has no transparent interception yet, so the importer gives every
// listener its own port, as the ECS task definitions in ecs/ do.
inline constexpr int kFirstInboundPort = 15006;  // inbound[i] listens on 0.0.0.0:15006+i
inline constexpr int kFirstAliasPort = 15001;    // outbound.services[i].alias is 127.0.0.1:15001+i
inline constexpr const char* kHttpProxy = "127.0.0.1:4140";
inline constexpr const char* kXrayCollector = "http://127.0.0.1:4318";
// authorization.allow when every exact SAN of a listener had to be left out: no certificate proves it.
inline constexpr const char* kNoCaller = "spiffe://none.invalid/no-caller";

struct InputDocument {
  std::string source;  // file name, for messages
  std::string text;
};

struct ImportOptions {
  // NAME, or mesh/<mesh>/virtualNode/<name> (APPMESH_VIRTUAL_NODE_NAME's format).
  std::string virtual_node;
  // ENABLE_ENVOY_XRAY_TRACING=1: tracing with X-Ray propagation, exported over
  // OTLP to a collector in the task (the ADOT collector in place of the X-Ray daemon).
  bool xray_tracing = false;
  std::optional<double> xray_sampling_rate;  // XRAY_SAMPLING_RATE
  // Used for discovery.cloudmap.region when no resource ARN names one.
  std::string default_region = "us-east-1";
};

struct ImportResult {
  std::string yaml;               // the hawser configuration
  std::vector<Finding> findings;  // unmapped fields and notes, in input order
  size_t unmapped = 0;            // findings that are not notes
};

// Splits "mesh/<mesh>/virtualNode/<name>" (or a bare name: mesh empty).
// Returns false when the text has slashes but not that shape.
bool parseVirtualNodeName(const std::string& text, std::string& mesh, std::string& name);

std::variant<ImportResult, InputError> importAppMesh(const std::vector<InputDocument>& documents,
                                                     const ImportOptions& options);

}  // namespace hawser::config::appmesh
