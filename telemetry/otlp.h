// OTLP/HTTP trace payloads (opentelemetry-proto v1, collector/trace/v1
// ExportTraceServiceRequest): binary protobuf and the OTLP JSON mapping,
// and gzip for either. Written here rather than with libprotobuf because
// the message set is five small types and the encoder must not allocate
// per field; tests decode both forms with Python's google.protobuf from
// classes built from the public field numbers (tests/support/otlp_receiver.py).
#pragma once

#include <span>
#include <string>

#include "telemetry/span.h"

namespace hawser::telemetry {

inline constexpr std::string_view kScopeName = "hawser";

std::string encodeOtlpProtobuf(const ResourceAttributes& resource, std::span<const SpanRecord> spans);
std::string encodeOtlpJson(const ResourceAttributes& resource, std::span<const SpanRecord> spans);
// gzip (RFC 1952) at zlib's fastest level; empty on failure.
std::string gzipCompress(std::string_view data);

}  // namespace hawser::telemetry
