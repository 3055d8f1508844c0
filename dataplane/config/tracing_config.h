// The tracing section of the loader (tracing_config.cpp).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "dataplane/config/config.h"

namespace hawser::config {

class Field;

// `telemetry.tracing.otlp` (possibly absent) merged with the OTEL_*
// variables `env` returns; nullopt when tracing is off.
std::optional<Tracing> readTracing(const Field& otlp,
                                   const std::function<std::optional<std::string>(const char*)>& env);
std::function<std::optional<std::string>(const char*)> processEnvironment();

}  // namespace hawser::config
