// The forwarder's reading of one POST /v1/capture body: inflate (bounded),
// split into NDJSON lines, parse and validate every record, apply the
// redaction rules. All or nothing: one bad line refuses the batch. Pure (no
// I/O), so the whole path from the network's bytes to what is stored has a
// fuzz target (tests/fuzz/capture_batch.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "telemetry/capture/redaction.h"

namespace hawser::telemetry {

struct BatchLimits {
  uint64_t max_inflated_bytes = 64ull << 20;
};

struct DecodedBatch {
  unsigned status = 200;  // 400 malformed, 413 too large inflated, 415 unknown encoding
  std::string error;      // why, for the reply
  std::vector<std::pair<std::string, std::string>> records;  // (service, record line as stored)
  size_t redacted = 0;                                       // records a rule changed
};

DecodedBatch decodeBatch(std::string_view body, std::string_view content_encoding, const BatchLimits& limits,
                         const RedactionRules& rules);

}  // namespace hawser::telemetry
