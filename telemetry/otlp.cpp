#include "telemetry/otlp.h"

#include <zlib.h>
#include <boost/json.hpp>

#include <cstring>

namespace hawser::telemetry {

size_t SpanRecord::approximateBytes() const {
  size_t n = 96 + name.size() + trace_state.size() + status_message.size();
  for (const auto& a : attributes) n += 12 + a.key.size() + a.text.size();
  return n;
}

namespace {

// Protobuf wire format, written forward into one string. A nested message
// reserves one length byte and widens it when it ends (a payload moves only
// when its message passed 127 bytes, once per enclosing level).
class ProtoWriter {
 public:
  explicit ProtoWriter(std::string& out) : out_(out) {}

  void varint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void tag(uint32_t field, uint32_t wire) { varint(uint64_t{field} << 3 | wire); }
  void bytes(uint32_t field, const void* data, size_t n) {
    tag(field, 2);
    varint(n);
    out_.append(static_cast<const char*>(data), n);
  }
  void string(uint32_t field, std::string_view s) {
    if (!s.empty()) bytes(field, s.data(), s.size());
  }
  void uint(uint32_t field, uint64_t v) {
    if (!v) return;
    tag(field, 0);
    varint(v);
  }
  void fixed64(uint32_t field, uint64_t v) {
    tag(field, 1);
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
  }
  void fixed32(uint32_t field, uint32_t v) {
    tag(field, 5);
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
  }
  size_t begin(uint32_t field) {
    tag(field, 2);
    out_.push_back(0);
    return out_.size();
  }
  void end(size_t start) {
    const size_t len = out_.size() - start;
    char prefix[10];
    size_t n = 0;
    for (uint64_t v = len;; v >>= 7) {
      prefix[n++] = static_cast<char>((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
      if (v < 0x80) break;
    }
    if (n > 1) out_.insert(start, n - 1, '\0');
    std::memcpy(out_.data() + start - 1, prefix, n);
  }

 private:
  std::string& out_;
};

// common/v1: KeyValue { key = 1; AnyValue value = 2 }, AnyValue { string_value = 1;
// bool_value = 2; int_value = 3 }.
void keyValue(ProtoWriter& w, uint32_t field, std::string_view key, const Attribute* a, std::string_view text) {
  auto kv = w.begin(field);
  w.string(1, key);
  auto any = w.begin(2);
  if (!a || a->type == Attribute::Type::string) {
    w.bytes(1, text.data(), text.size());  // an empty string is still a value
  } else if (a->type == Attribute::Type::integer) {
    w.tag(3, 0);
    w.varint(static_cast<uint64_t>(a->number));
  } else {
    w.tag(2, 0);
    w.varint(a->number ? 1 : 0);
  }
  w.end(any);
  w.end(kv);
}

void writeSpan(ProtoWriter& w, const SpanRecord& s) {
  // trace/v1 Span.
  auto m = w.begin(2);
  w.bytes(1, s.trace.bytes.data(), s.trace.bytes.size());
  w.bytes(2, s.span.bytes.data(), s.span.bytes.size());
  w.string(3, s.trace_state);
  if (s.parent.valid()) w.bytes(4, s.parent.bytes.data(), s.parent.bytes.size());
  w.string(5, s.name);
  w.uint(6, static_cast<uint64_t>(s.kind));
  w.fixed64(7, s.start_ns);
  w.fixed64(8, s.end_ns);
  for (const auto& a : s.attributes) keyValue(w, 9, a.key, &a, a.text);
  if (s.status != SpanStatus::unset || !s.status_message.empty()) {
    auto st = w.begin(15);  // Status { message = 2; code = 3 }
    w.string(2, s.status_message);
    w.uint(3, static_cast<uint64_t>(s.status));
    w.end(st);
  }
  // W3C trace flags in the low byte; bit 8 says whether the parent is remote.
  w.fixed32(16, (s.sampled ? 1u : 0u));
  w.end(m);
}

std::string idHex(const auto& id) {
  return id.hex();
}

boost::json::object jsonValue(const Attribute& a) {
  boost::json::object v;
  switch (a.type) {
    case Attribute::Type::string: v["stringValue"] = a.text; break;
    case Attribute::Type::integer: v["intValue"] = std::to_string(a.number); break;  // int64 as a string
    case Attribute::Type::boolean: v["boolValue"] = a.number != 0; break;
  }
  return v;
}

boost::json::object jsonKeyValue(std::string_view key, boost::json::object value) {
  boost::json::object kv;
  kv["key"] = key;
  kv["value"] = std::move(value);
  return kv;
}
}  // namespace

std::string encodeOtlpProtobuf(const ResourceAttributes& resource, std::span<const SpanRecord> spans) {
  std::string out;
  size_t estimate = 256;
  for (const auto& s : spans) estimate += s.approximateBytes();
  out.reserve(estimate);
  ProtoWriter w(out);
  auto rs = w.begin(1);   // ExportTraceServiceRequest.resource_spans
  auto res = w.begin(1);  // ResourceSpans.resource
  for (const auto& [k, v] : resource) keyValue(w, 1, k, nullptr, v);
  w.end(res);
  auto ss = w.begin(2);  // ResourceSpans.scope_spans
  auto scope = w.begin(1);
  w.string(1, kScopeName);
  w.end(scope);
  for (const auto& s : spans) writeSpan(w, s);
  w.end(ss);
  w.end(rs);
  return out;
}

std::string encodeOtlpJson(const ResourceAttributes& resource, std::span<const SpanRecord> spans) {
  namespace json = boost::json;
  json::array res_attrs;
  for (const auto& [k, v] : resource) res_attrs.push_back(jsonKeyValue(k, {{"stringValue", v}}));
  json::array list;
  for (const auto& s : spans) {
    json::object o;
    o["traceId"] = idHex(s.trace);
    o["spanId"] = idHex(s.span);
    if (!s.trace_state.empty()) o["traceState"] = s.trace_state;
    if (s.parent.valid()) o["parentSpanId"] = idHex(s.parent);
    o["flags"] = s.sampled ? 1 : 0;
    o["name"] = s.name;
    o["kind"] = static_cast<int>(s.kind);
    o["startTimeUnixNano"] = std::to_string(s.start_ns);
    o["endTimeUnixNano"] = std::to_string(s.end_ns);
    json::array attrs;
    for (const auto& a : s.attributes) attrs.push_back(jsonKeyValue(a.key, jsonValue(a)));
    o["attributes"] = std::move(attrs);
    json::object status;
    if (!s.status_message.empty()) status["message"] = s.status_message;
    if (s.status != SpanStatus::unset) status["code"] = static_cast<int>(s.status);
    o["status"] = std::move(status);
    list.push_back(std::move(o));
  }
  json::object scope_spans{{"scope", {{"name", kScopeName}}}, {"spans", std::move(list)}};
  json::object resource_spans{{"resource", {{"attributes", std::move(res_attrs)}}},
                              {"scopeSpans", json::array{std::move(scope_spans)}}};
  json::object root{{"resourceSpans", json::array{std::move(resource_spans)}}};
  return json::serialize(root);
}

std::string gzipCompress(std::string_view data) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  std::string out(deflateBound(&z, static_cast<uLong>(data.size())) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return {};
  return out;
}

}  // namespace hawser::telemetry
