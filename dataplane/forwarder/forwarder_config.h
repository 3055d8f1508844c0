// `hawser forwarder --config FILE`: its configuration (docs/capture.md).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "dataplane/config/config.h"
#include "telemetry/capture/redaction.h"

namespace hawser::forwarder {

// storage.s3: the archive in a bucket (docs/capture.md#s3).
struct S3Storage {
  std::string bucket;
  std::string region;    // "": AWS_REGION, AWS_DEFAULT_REGION, else us-east-1
  std::string endpoint;  // "": AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else https://s3.<region>.amazonaws.com
  bool path_style = false;
  uint64_t multipart_threshold = 64ull << 20;
  uint64_t part_size = 16ull << 20;
  config::Duration timeout{60000};  // per request
};

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
  // Where closed segments go: a local directory, or S3 (exactly one).
  std::string archive_dir;
  std::optional<S3Storage> s3;
  std::string prefix;                               // key prefix in the archive ("" or e.g. "capture")
  uint64_t max_batch_bytes = 8ull << 20;            // a POST body, compressed
  uint64_t max_batch_inflated_bytes = 64ull << 20;  // the same, inflated
  telemetry::RedactionRules redact;
  config::Duration drain_timeout{10000};
};

ForwarderConfig loadForwarderFile(const std::string& path);
ForwarderConfig loadForwarderText(const std::string& yaml, const std::string& source);

}  // namespace hawser::forwarder
