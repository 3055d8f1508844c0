// `hawser forwarder --config FILE`: its configuration (docs/capture.md).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "dataplane/config/config.h"
#include "telemetry/capture/redaction.h"

namespace hawser::forwarder {

struct ForwarderConfig {
  std::string source;
  config::Address listen{"0.0.0.0", 8888};
  config::Address admin{"127.0.0.1", 9901};
  std::optional<config::Tls> tls;  // mutual TLS for the sidecars' batches; absent: plain HTTP
  std::vector<std::string> allow;  // authorization.allow: identities (patterns) that may send; empty: any verified
  // The spool: segments being written and waiting for upload.
  std::string spool;
  uint64_t max_spool_bytes = 1ull << 30;  // past it: 503 with Retry-After
  uint64_t segment_max_bytes = 64ull << 20;
  config::Duration segment_max_age{60000};
  // Where closed segments go: a local directory, or S3.
  std::string archive_dir;
  std::string prefix;                               // key prefix in the archive ("" or e.g. "capture")
  uint64_t max_batch_bytes = 8ull << 20;            // a POST body, compressed
  uint64_t max_batch_inflated_bytes = 64ull << 20;  // the same, inflated
  telemetry::RedactionRules redact;
  config::Duration drain_timeout{10000};
};

ForwarderConfig loadForwarderFile(const std::string& path);
ForwarderConfig loadForwarderText(const std::string& yaml, const std::string& source);

}  // namespace hawser::forwarder
