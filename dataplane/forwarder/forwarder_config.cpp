#include "dataplane/forwarder/forwarder_config.h"

#include <algorithm>

#include "dataplane/config/field.h"

namespace hawser::forwarder {
using config::ConfigError;
using config::Field;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Bucket names as S3 allows them (3-63 of a-z 0-9 . -, starting and ending alphanumeric).
bool validBucket(const std::string& b) {
  if (b.size() < 3 || b.size() > 63) return false;
  for (char ch : b)
    if (!(std::islower(static_cast<unsigned char>(ch)) || std::isdigit(static_cast<unsigned char>(ch)) || ch == '.' ||
          ch == '-'))
      return false;
  return std::isalnum(static_cast<unsigned char>(b.front())) && std::isalnum(static_cast<unsigned char>(b.back()));
}

S3Storage readS3(const Field& f) {
  S3Storage s;
  f.expectMap({"bucket", "region", "endpoint", "path_style", "multipart_threshold", "part_size", "timeout"});
  auto bucket = f.child("bucket").required();
  s.bucket = bucket.nonEmptyString();
  if (!validBucket(s.bucket)) bucket.fail("not a valid S3 bucket name (3-63 characters of a-z, 0-9, '.', '-')");
  if (auto v = f.child("region"); v.present()) s.region = v.nonEmptyString();
  if (auto v = f.child("endpoint"); v.present()) {
    s.endpoint = v.nonEmptyString();
    while (!s.endpoint.empty() && s.endpoint.back() == '/') s.endpoint.pop_back();
    if (s.endpoint.rfind("http://", 0) != 0 && s.endpoint.rfind("https://", 0) != 0)
      v.fail("expected http://host[:port] or https://host[:port]");
  }
  if (auto v = f.child("path_style"); v.present()) s.path_style = v.boolean();
  if (auto v = f.child("part_size"); v.present()) s.part_size = v.bytes(5ull << 20, 5ull << 30);
  if (auto v = f.child("multipart_threshold"); v.present()) s.multipart_threshold = v.bytes(5ull << 20, 5ull << 30);
  if (auto v = f.child("timeout"); v.present()) {
    s.timeout = v.duration();
    if (s.timeout.count() <= 0) v.fail("must be greater than 0");
  }
  return s;
}

ForwarderConfig parse(const YAML::Node& root, const std::string& source) {
  ForwarderConfig c;
  c.source = source;
  Field top(root, "", source);
  top.expectMap({"listen", "admin", "tls", "authorization", "storage", "limits", "redact", "drain_timeout"});
  if (auto f = top.child("listen"); f.present()) c.listen = f.address();
  if (auto f = top.child("admin"); f.present()) {
    f.expectMap({"address"});
    if (auto a = f.child("address"); a.present()) c.admin = a.address();
  }
  if (auto f = top.child("tls"); f.present()) c.tls = config::readTls(f);
  if (auto f = top.child("authorization"); f.present()) {
    f.expectMap({"allow"});
    if (auto a = f.child("allow"); a.present()) c.allow = a.stringList();
    if (!c.tls) f.fail("authorization needs tls (identities are proven by client certificates)");
  }
  auto st = top.child("storage").required();
  st.expectMap({"spool", "max_spool_bytes", "segment", "directory", "s3", "prefix"});
  c.spool = st.child("spool").required().nonEmptyString();
  if (auto v = st.child("max_spool_bytes"); v.present()) c.max_spool_bytes = v.bytes(1 << 20, UINT64_MAX);
  if (auto seg = st.child("segment"); seg.present()) {
    seg.expectMap({"max_bytes", "max_age"});
    if (auto v = seg.child("max_bytes"); v.present()) c.segment_max_bytes = v.bytes(4096, 4ull << 30);
    if (auto v = seg.child("max_age"); v.present()) {
      c.segment_max_age = v.duration();
      if (c.segment_max_age.count() < 100) v.fail("must be at least 100ms");
    }
  }
  auto dir = st.child("directory");
  auto s3 = st.child("s3");
  if (dir.present() == s3.present()) st.fail("exactly one of directory, s3 is required");
  if (dir.present()) {
    c.archive_dir = dir.nonEmptyString();
    if (c.archive_dir == c.spool) dir.fail("must not be the spool directory");
  } else {
    c.s3 = readS3(s3);
  }
  if (auto v = st.child("prefix"); v.present()) {
    c.prefix = v.string();
    while (!c.prefix.empty() && c.prefix.back() == '/') c.prefix.pop_back();
    if (c.prefix.find("..") != std::string::npos || (!c.prefix.empty() && c.prefix.front() == '/'))
      v.fail("must be a relative key prefix without '..'");
  }
  if (auto f = top.child("limits"); f.present()) {
    f.expectMap({"max_batch_bytes", "max_batch_inflated_bytes"});
    if (auto v = f.child("max_batch_bytes"); v.present()) c.max_batch_bytes = v.bytes(1024, 1ull << 30);
    if (auto v = f.child("max_batch_inflated_bytes"); v.present())
      c.max_batch_inflated_bytes = v.bytes(1024, 4ull << 30);
  }
  if (auto f = top.child("redact"); f.present()) {
    f.expectMap({"headers", "json_fields"});
    if (auto h = f.child("headers"); h.present()) {
      for (auto& name : h.stringList()) c.redact.headers.push_back(lower(name));
    }
    if (auto j = f.child("json_fields"); j.present()) {
      for (size_t i = 0, n = j.expectList(); i < n; ++i) {
        auto path = telemetry::parseFieldPath(j.item(i).nonEmptyString());
        if (path.empty()) j.item(i).fail("expected a dotted field path such as user.password or items.*.card");
        c.redact.json_fields.push_back(std::move(path));
      }
    }
  }
  if (auto f = top.child("drain_timeout"); f.present()) c.drain_timeout = f.duration();
  return c;
}

}  // namespace

ForwarderConfig loadForwarderText(const std::string& yaml, const std::string& source) {
  auto root = config::parseYaml(yaml, source);
  try {
    return parse(root, source);
  } catch (const YAML::Exception& e) {
    throw ConfigError(source + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

ForwarderConfig loadForwarderFile(const std::string& path) {
  return loadForwarderText(config::readConfigFile(path), path);
}

}  // namespace hawser::forwarder
