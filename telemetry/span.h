// A finished span as the request path hands it to the exporter: ids, times
// and attributes copied out of the exchange, nothing that refers back to it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "telemetry/trace_context.h"

namespace hawser::telemetry {

// OTLP's numbering (opentelemetry/proto/trace/v1/trace.proto).
enum class SpanKind : uint8_t { internal = 1, server = 2, client = 3 };
enum class SpanStatus : uint8_t { unset = 0, ok = 1, error = 2 };

// Keys are the semantic-convention names (string literals: they outlive
// every span).
struct Attribute {
  enum class Type : uint8_t { string, integer, boolean };
  std::string_view key;
  Type type = Type::string;
  std::string text;
  int64_t number = 0;

  static Attribute str(std::string_view k, std::string_view v) { return {k, Type::string, std::string(v), 0}; }
  static Attribute integer(std::string_view k, int64_t v) { return {k, Type::integer, {}, v}; }
  static Attribute boolean(std::string_view k, bool v) { return {k, Type::boolean, {}, v ? 1 : 0}; }
};

struct SpanRecord {
  TraceId trace;
  SpanId span;
  SpanId parent;  // all zero: a root span
  bool sampled = true;
  std::string trace_state;
  SpanKind kind = SpanKind::internal;
  std::string name;
  uint64_t start_ns = 0;  // Unix epoch nanoseconds
  uint64_t end_ns = 0;
  SpanStatus status = SpanStatus::unset;
  std::string status_message;
  std::vector<Attribute> attributes;

  // What the span weighs in a batch (OTLP protobuf bytes, roughly).
  size_t approximateBytes() const;
};

// The process's resource (service.name and friends), string-valued.
using ResourceAttributes = std::vector<std::pair<std::string, std::string>>;

}  // namespace hawser::telemetry
