// capture: the tee of every exchange into the cluster's forwarder.
#include "dataplane/config/capture_config.h"

#include <algorithm>
#include <cctype>

#include "dataplane/config/field.h"

namespace hawser::config {

namespace {
std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool validHeaderName(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
  });
}
}  // namespace

std::optional<Capture> readCapture(const Field& f, const Node& node, bool node_has_tls) {
  if (!f.present()) return std::nullopt;
  f.expectMap({"enabled", "forwarder", "tls", "max_body_bytes", "queue_bytes", "redact_headers", "sample_ratio",
               "services", "batch", "timeout"});
  Capture c;
  bool enabled = false;
  if (auto e = f.child("enabled"); e.present()) enabled = e.boolean();
  auto fwd = f.child("forwarder");
  if (enabled || fwd.present()) c.forwarder = fwd.required().address();
  if (c.forwarder.port == 0) fwd.fail("the forwarder's port must not be 0");
  c.mutual_tls = node_has_tls;
  if (auto t = f.child("tls"); t.present()) {
    t.expectMap({"mode", "sans"});
    if (auto m = t.child("mode"); m.present()) c.mutual_tls = m.oneOf<bool>({{"mutual", true}, {"disabled", false}});
    if (auto s = t.child("sans"); s.present()) c.sans = s.stringList();
    if (c.mutual_tls && !node_has_tls)
      t.child("mode").fail("mutual tls to the forwarder needs the top-level tls (this sidecar's certificate)");
  }
  if (enabled && c.mutual_tls && c.sans.empty()) {
    if (node.ns.empty()) {
      f.child("tls").fail("mutual tls needs capture.tls.sans or node.namespace to know the forwarder's identity");
    }
    c.sans.push_back("spiffe://" + node.ns + "/forwarder");
  }
  if (auto v = f.child("max_body_bytes"); v.present()) c.max_body_bytes = v.bytes(0, 16ull << 20);
  if (auto v = f.child("queue_bytes"); v.present()) c.queue_bytes = v.bytes(64 << 10, 4ull << 30);
  if (auto v = f.child("sample_ratio"); v.present()) c.sample_ratio = v.ratio();
  if (auto v = f.child("redact_headers"); v.present()) {
    c.redact_headers.clear();
    for (size_t i = 0, n = v.expectList(); i < n; ++i) {
      auto name = v.item(i).nonEmptyString();
      if (!validHeaderName(name)) v.item(i).fail("not a header name: \"" + name + "\"");
      c.redact_headers.push_back(lower(name));
    }
  }
  if (auto s = f.child("services"); s.present()) {
    s.expectMap({"include", "exclude"});
    if (auto v = s.child("include"); v.present()) c.include_services = v.stringList();
    if (auto v = s.child("exclude"); v.present()) c.exclude_services = v.stringList();
  }
  // A batch is at most a quarter of the queue unless set (so a full queue still ships in pieces).
  c.max_batch_bytes = std::min<uint64_t>(c.max_batch_bytes, std::max<uint64_t>(1024, c.queue_bytes / 4));
  if (auto b = f.child("batch"); b.present()) {
    b.expectMap({"max_records", "max_bytes", "delay"});
    if (auto v = b.child("max_records"); v.present())
      c.max_batch_records = static_cast<uint32_t>(v.unsignedInt(1, 100000));
    if (auto v = b.child("max_bytes"); v.present()) c.max_batch_bytes = v.bytes(1024, 64ull << 20);
    if (auto v = b.child("delay"); v.present()) {
      c.batch_delay = v.duration();
      if (c.batch_delay.count() == 0) v.fail("must be greater than 0");
    }
  }
  if (auto v = f.child("timeout"); v.present()) {
    c.timeout = v.duration();
    if (c.timeout.count() == 0) v.fail("must be greater than 0");
  }
  if (c.max_batch_bytes > c.queue_bytes)
    f.child("batch").child("max_bytes").fail("must not exceed capture.queue_bytes");
  if (!enabled) return std::nullopt;
  return c;
}

}  // namespace hawser::config
