// The encoders' framing. Field numbers and types are checked independently,
// by decoding with Google's protobuf in tests/integration/test_tracing.py;
// here: every length prefix (one byte, two, three) encloses exactly its
// message, and the JSON form has the OTLP mapping's shape.
#include "telemetry/otlp.h"

#include <gtest/gtest.h>
#include <zlib.h>
#include <boost/json.hpp>

#include <random>

namespace hawser::telemetry {
namespace {

SpanRecord span(size_t name_bytes) {
  std::mt19937_64 gen(3);
  SpanRecord s;
  s.trace = newTraceId(gen);
  s.span = newSpanId(gen);
  s.parent = newSpanId(gen);
  s.kind = SpanKind::server;
  s.name = std::string(name_bytes, 'n');
  s.start_ns = 1'700'000'000'000'000'000ull;
  s.end_ns = s.start_ns + 1234;
  s.status = SpanStatus::error;
  s.attributes.push_back(Attribute::str("http.request.method", "GET"));
  s.attributes.push_back(Attribute::integer("http.response.status_code", 503));
  s.attributes.push_back(Attribute::integer("negative", -1));
  s.attributes.push_back(Attribute::boolean("flag", true));
  return s;
}

// Walks a protobuf message: every field well formed, every length within its
// parent. Returns the number of fields seen at all depths (-1 on an error);
// `nested` says which field numbers hold messages at each depth.
uint64_t varint(std::string_view& in, bool& ok) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in.empty()) break;
    auto b = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    v |= uint64_t{b & 0x7fu} << shift;
    if (!(b & 0x80)) return v;
  }
  ok = false;
  return 0;
}

int walk(std::string_view in, int depth) {
  int fields = 0;
  while (!in.empty()) {
    bool ok = true;
    auto key = varint(in, ok);
    if (!ok) return -1;
    ++fields;
    switch (key & 7) {
      case 0: varint(in, ok); break;
      case 1:
        if (in.size() < 8) return -1;
        in.remove_prefix(8);
        break;
      case 5:
        if (in.size() < 4) return -1;
        in.remove_prefix(4);
        break;
      case 2: {
        auto n = varint(in, ok);
        if (!ok || n > in.size()) return -1;
        auto body = in.substr(0, n);
        in.remove_prefix(n);
        // Messages down to the AnyValue: ExportTraceServiceRequest(1) > ResourceSpans(2) >
        // ScopeSpans(2) > Span; a span's bytes/strings are not messages.
        const auto field = key >> 3;
        const bool message = (depth == 0 && field == 1) || (depth == 1 && (field == 1 || field == 2)) ||
                             (depth == 2 && (field == 1 || field == 2));
        if (message) {
          int inner = walk(body, depth + 1);
          if (inner < 0) return -1;
          fields += inner;
        }
        break;
      }
      default: return -1;
    }
    if (!ok) return -1;
  }
  return fields;
}

TEST(OtlpProtobuf, LengthPrefixesOfEverySizeEncloseTheirMessage) {
  ResourceAttributes resource{{"service.name", "caller"}};
  for (size_t name : {1u, 100u, 200u, 20'000u, 3'000'000u}) {
    std::vector<SpanRecord> spans{span(name), span(5)};
    auto bytes = encodeOtlpProtobuf(resource, spans);
    EXPECT_GT(walk(bytes, 0), 4) << name;
    EXPECT_GT(bytes.size(), name);
  }
}

TEST(OtlpProtobuf, AnEmptyBatchIsStillOneResourceSpans) {
  auto bytes = encodeOtlpProtobuf({}, {});
  EXPECT_GE(walk(bytes, 0), 1);
  EXPECT_EQ(bytes[0], 0x0a);  // field 1, length-delimited
}

TEST(OtlpJson, FollowsTheOtlpJsonMapping) {
  std::vector<SpanRecord> spans{span(3)};
  auto v = boost::json::parse(encodeOtlpJson({{"service.name", "caller"}}, spans));
  const auto& rs = v.at("resourceSpans").at(0);
  EXPECT_EQ(rs.at("resource").at("attributes").at(0).at("value").at("stringValue"), "caller");
  const auto& s = rs.at("scopeSpans").at(0).at("spans").at(0);
  EXPECT_EQ(s.at("traceId").as_string(), spans[0].trace.hex());  // hex, not base64
  EXPECT_EQ(s.at("parentSpanId").as_string(), spans[0].parent.hex());
  EXPECT_EQ(s.at("kind"), 2);                                   // enums as integers
  EXPECT_EQ(s.at("startTimeUnixNano"), "1700000000000000000");  // 64-bit integers as strings
  EXPECT_EQ(s.at("status").at("code"), 2);
  EXPECT_EQ(s.at("attributes").at(1).at("value").at("intValue"), "503");
  EXPECT_EQ(s.at("attributes").at(3).at("value").at("boolValue"), true);
}

TEST(Gzip, RoundTrips) {
  std::string data(100'000, 'x');
  for (size_t i = 0; i < data.size(); i += 7) data[i] = static_cast<char>('a' + i % 26);
  auto z = gzipCompress(data);
  ASSERT_FALSE(z.empty());
  EXPECT_EQ(static_cast<uint8_t>(z[0]), 0x1f);
  EXPECT_EQ(static_cast<uint8_t>(z[1]), 0x8b);
  z_stream s{};
  ASSERT_EQ(inflateInit2(&s, 15 + 16), Z_OK);
  std::string out(data.size() + 16, '\0');
  s.next_in = reinterpret_cast<Bytef*>(z.data());
  s.avail_in = static_cast<uInt>(z.size());
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&s, Z_FINISH), Z_STREAM_END);
  out.resize(s.total_out);
  inflateEnd(&s);
  EXPECT_EQ(out, data);
}

}  // namespace
}  // namespace hawser::telemetry
