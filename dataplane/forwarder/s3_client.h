// S3 for the forwarder's archive and `capture export --from s3://`: objects
// PUT with SigV4 (discovery/aws/sigv4.h, S3's signing rules), Content-MD5
// and x-amz-content-sha256, multipart above a threshold, ListObjectsV2 and
// GetObject. Any S3-compatible endpoint, virtual-host or path style.
//
// The client is blocking: each call runs discovery's HTTP client on a
// private io_context on the calling thread (the archiver's, or the export
// command's), so the forwarder's I/O thread never waits for S3. The request
// building and the reading of S3's XML are pure and unit-tested.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/forwarder/s3_xml.h"
#include "discovery/aws/credentials.h"
#include "discovery/cloudmap/http_client.h"
#include "telemetry/capture/archiver.h"

namespace hawser::forwarder {

struct S3Location {
  std::string endpoint;  // "https://s3.eu-west-1.amazonaws.com" or "http://127.0.0.1:4569": scheme://host[:port]
  std::string region;    // signing region
  std::string bucket;
  bool path_style = false;  // https://endpoint/bucket/key instead of https://bucket.endpoint/key
};

// Where requests for `bucket` go: scheme, Host header and the path prefix
// (path style: "/bucket"). An IP-literal endpoint always uses path style.
struct S3Origin {
  std::string base;  // "https://bucket.s3.eu-west-1.amazonaws.com" (no trailing '/')
  std::string host;  // the Host header: host[:port]
  std::string path;  // "" or "/bucket"
};
// nullopt when `endpoint` is not scheme://host[:port] with scheme http or https.
std::optional<S3Origin> s3Origin(const S3Location& where);

// The endpoint when none is configured: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL,
// else https://s3.<region>.amazonaws.com. The region: AWS_REGION,
// AWS_DEFAULT_REGION, else us-east-1.
std::string defaultS3Region(const discovery::aws::EnvLookup& env);
std::string defaultS3Endpoint(const discovery::aws::EnvLookup& env, const std::string& region);

// One signed S3 request. `key` is the object key (unencoded; "" for the
// bucket itself), `query` the raw query ("uploads", "partNumber=1&uploadId=..").
discovery::cloudmap::HttpRequest s3Request(const S3Location& where, const S3Origin& origin, std::string method,
                                           std::string_view key, std::string_view query, std::string body,
                                           const discovery::aws::Credentials& credentials, std::string_view amz_date);

// base64(MD5(body)), the Content-MD5 header.
std::string contentMd5(std::string_view body);

using CredentialsSource = std::function<std::optional<discovery::aws::Credentials>()>;

struct S3Options {
  uint64_t multipart_threshold = 64ull << 20;  // objects at least this large go in parts
  uint64_t part_size = 16ull << 20;            // >= 5 MiB (S3's minimum for all but the last part)
  std::chrono::milliseconds timeout{60000};    // per request
};

class S3Client {
 public:
  S3Client(S3Location where, S3Options options, CredentialsSource credentials);
  ~S3Client();
  const S3Location& location() const { return where_; }

  // "" once S3 confirmed the object, else the problem (nothing is left half-written:
  // a failed multipart upload is aborted).
  std::string put(const std::string& key, const std::string& body);
  // Every key under `prefix`, in S3's order; false with `error` set on failure.
  bool list(const std::string& prefix, std::vector<std::string>& keys, std::string& error);
  bool get(const std::string& key, std::string& body, std::string& error);

 private:
  discovery::cloudmap::HttpResponse send(std::string method, std::string_view key, std::string_view query,
                                         std::string body, std::vector<std::pair<std::string, std::string>> extra = {},
                                         uint64_t max_response = 1 << 20);
  std::string putParts(const std::string& key, const std::string& body);

  S3Location where_;
  S3Origin origin_;
  S3Options options_;
  CredentialsSource credentials_;
  struct Io;
  std::unique_ptr<Io> io_;
};

// The archive in a bucket: ArchiveSink over S3Client.
class S3Sink final : public telemetry::ArchiveSink {
 public:
  explicit S3Sink(std::unique_ptr<S3Client> client) : client_(std::move(client)) {}
  std::string put(const std::string& key, const std::string& body) override { return client_->put(key, body); }
  std::string describe() const override { return "s3://" + client_->location().bucket; }

 private:
  std::unique_ptr<S3Client> client_;
};

}  // namespace hawser::forwarder
