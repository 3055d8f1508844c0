// A sidecar configured without a YAML file, from the environment variables
// of Speedscale's goproxy task definitions (docs/capture.md has the mapping):
// the variables become a hawser configuration document, loaded and checked
// like any other (so an error names the key it became and the variable).
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace hawser::config {

using EnvLookup = std::function<std::optional<std::string>(const char*)>;

// nullopt when none of the mapped variables is set; else the YAML document.
// Throws ConfigError naming the variable for a malformed value.
std::optional<std::string> speedscaleConfigYaml(const EnvLookup& env);

inline constexpr const char* kSpeedscaleSource = "environment (Speedscale-style variables)";

}  // namespace hawser::config
