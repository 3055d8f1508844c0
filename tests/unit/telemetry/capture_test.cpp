// The capture pieces that need no network: records, timestamps, base64,
// CRC32C, segments and the spool's recovery, redaction, batch decoding,
// the archive's keys, export and HAR, and the shipper against a fake
// forwarder.
#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <unistd.h>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <deque>
#include <filesystem>
#include <fstream>

#include "telemetry/capture/archiver.h"
#include "telemetry/capture/batch.h"
#include "telemetry/capture/export.h"
#include "telemetry/capture/record.h"
#include "telemetry/capture/redaction.h"
#include "telemetry/capture/segment.h"
#include "telemetry/capture/shipper.h"
#include "telemetry/capture/spool.h"
#include "telemetry/otlp.h"

// GCC 12 misreads a coroutine frame's sized delete as mismatched.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace hawser::telemetry {
namespace {
namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

CaptureRecord sample(int i, std::string body = "hello") {
  CaptureRecord r;
  r.id = recordId(1, static_cast<uint64_t>(i));
  r.start_us = 1764674400000000 + i;
  r.duration_us = 1500;
  r.kind = "http";
  r.direction = i % 2 ? "inbound" : "outbound";
  r.service = "orders";
  r.method = "POST";
  r.scheme = "http";
  r.authority = "orders.local";
  r.target = "/o/" + std::to_string(i) + "?a=1";
  r.request.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer x"}};
  r.request.append(body, 1024);
  r.status = 201;
  r.response.headers = {{"Content-Type", "text/plain"}};
  r.response.append("ok", 1024);
  return r;
}

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/hawser-capture-unit-XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() { fs::remove_all(path); }
};

TEST(CaptureRecord, EncodesAValidRecordThatRoundTrips) {
  auto line = encodeRecord(sample(3, std::string("\0\xff", 2)));
  auto v = json::parse(line);
  EXPECT_EQ(validateRecord(v), "");
  const auto& o = v.as_object();
  EXPECT_EQ(o.at("start").as_string(), "2025-12-02T11:20:00.000003Z");
  std::string body;
  ASSERT_TRUE(base64Decode(o.at("request").at("body").as_string(), body));
  EXPECT_EQ(body, std::string("\0\xff", 2));
  EXPECT_EQ(o.at("response").at("status").as_int64(), 201);
}

TEST(CaptureRecord, BodiesAreCutAtTheLimitAndSayTheyWere) {
  CapturedMessage m;
  m.append("abcdef", 4);
  m.append("gh", 4);
  EXPECT_EQ(m.body, "abcd");
  EXPECT_EQ(m.body_bytes, 8u);
  EXPECT_TRUE(m.truncated);
}

TEST(CaptureRecord, ValidationNamesTheProblem) {
  auto good = json::parse(encodeRecord(sample(1))).as_object();
  auto with = [&](const char* key, json::value v) {
    auto o = good;
    o[key] = std::move(v);
    return validateRecord(o);
  };
  EXPECT_NE(with("id", "").find("id"), std::string::npos);
  EXPECT_NE(with("id", "../x").find("id"), std::string::npos);
  EXPECT_NE(with("service", "..").find("service"), std::string::npos);
  EXPECT_NE(with("service", "a/b").find("service"), std::string::npos);
  EXPECT_NE(with("start", "yesterday").find("start"), std::string::npos);
  EXPECT_NE(with("direction", "sideways").find("direction"), std::string::npos);
  EXPECT_NE(with("kind", "ftp").find("kind"), std::string::npos);
  auto bad_body = good;
  bad_body["request"].as_object()["body"] = "not base64!";
  EXPECT_NE(validateRecord(bad_body).find("request.body"), std::string::npos);
  EXPECT_NE(validateRecord(json::value(1)), "");
}

TEST(CaptureRecord, Timestamps) {
  int64_t us = 0;
  ASSERT_TRUE(parseTimestamp("2026-12-02T11:20:00.123456Z", us));
  EXPECT_EQ(formatTimestamp(us), "2026-12-02T11:20:00.123456Z");
  ASSERT_TRUE(parseTimestamp("2026-12-02T11:20:00Z", us));
  EXPECT_EQ(formatTimestamp(us), "2026-12-02T11:20:00.000000Z");
  for (const char* bad : {"2026-13-02T11:20:00Z", "2026-02-30T11:20:00Z", "2026-12-02T11:20:00", "2026-12-02 11:20:00Z",
                          "2026-12-02T11:20:00.Z", "2026-12-02T25:20:00Z", ""}) {
    EXPECT_FALSE(parseTimestamp(bad, us)) << bad;
  }
}

TEST(CaptureRecord, Base64) {
  std::string out;
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    ASSERT_TRUE(base64Decode(base64Encode(s), out));
    EXPECT_EQ(out, s);
  }
  EXPECT_EQ(base64Encode("foobar"), "Zm9vYmFy");
  for (const char* bad : {"Zm9", "Zm9v=", "Zg==Zg==", "Z===", "Zm!v"}) EXPECT_FALSE(base64Decode(bad, out)) << bad;
}

TEST(Segment, Crc32cKnownAnswers) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);  // the Castagnoli check value
  EXPECT_EQ(crc32c(""), 0u);
  std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(zeros), 0x8A9136AAu);  // RFC 3720 B.4
}

TEST(Segment, AppendSyncReadAndATornTail) {
  TempDir d;
  const auto path = d.path + "/s~1~0.open";
  SegmentWriter w;
  std::string error;
  ASSERT_TRUE(w.open(path, error)) << error;
  ASSERT_TRUE(w.append(std::vector<std::string>{"one", "two"}, error));
  ASSERT_TRUE(w.sync(error));
  w.close();
  EXPECT_FALSE(w.open(path, error)) << "an existing segment is never reopened for writing";
  {
    std::ofstream torn(path, std::ios::app | std::ios::binary);
    torn << std::string("\x05\x00\x00\x00\x00\x00\x00\x00thr", 11);
  }
  auto c = readSegment(path);
  EXPECT_EQ(c.records, (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(c.valid_bytes, 2 * 8 + 6u);
  EXPECT_EQ(c.file_bytes, c.valid_bytes + 11);
  auto flipped = parseSegment(encodeSegmentEntry("abc").replace(9, 1, "X") + encodeSegmentEntry("d"));
  EXPECT_TRUE(flipped.records.empty()) << "a corrupt entry ends the readable prefix";
}

TEST(Segment, GunzipIsBounded) {
  std::string big(1 << 20, 'a'), out, error;
  auto z = gzipCompress(big);
  EXPECT_TRUE(gunzipBounded(z, 2 << 20, out, error)) << error;
  EXPECT_EQ(out, big);
  EXPECT_FALSE(gunzipBounded(z, 1000, out, error));
  EXPECT_NE(error.find("inflates past"), std::string::npos);
  EXPECT_FALSE(gunzipBounded(z.substr(0, z.size() / 2), 2 << 20, out, error));
  EXPECT_FALSE(gunzipBounded(z + "junk", 2 << 20, out, error));
  EXPECT_FALSE(gunzipBounded("not gzip", 2 << 20, out, error));
}

TEST(Spool, DurableAppendsRollByServiceAndRecoverAfterACrash) {
  TempDir d;
  SpoolSettings s{d.path + "/spool", 1 << 20, 4096, 60s};
  std::string error;
  {
    Spool spool;
    ASSERT_TRUE(spool.open(s, error)) << error;
    ASSERT_EQ(spool.append({{"a", "r1"}, {"b", "r2"}, {"a", "r3"}}, error), Spool::Append::ok) << error;
    EXPECT_EQ(spool.openSegments(), 2u);
    spool.closeExpired(true);
    EXPECT_EQ(spool.closedSegments(), 2u);
    ASSERT_EQ(spool.append({{"a", std::string(5000, 'x')}}, error), Spool::Append::ok);
    EXPECT_EQ(spool.openSegments(), 0u) << "a segment past max_bytes closes";
    ASSERT_EQ(spool.append({{"c", "r4"}}, error), Spool::Append::ok);
    // The process dies here: c's segment stays .open.
  }
  // A torn tail on the open segment (a batch that was never acknowledged).
  for (const auto& e : fs::directory_iterator(s.dir)) {
    if (e.path().extension() == ".open") std::ofstream(e.path(), std::ios::app | std::ios::binary).write("\x09\x00", 2);
  }
  Spool again;
  ASSERT_TRUE(again.open(s, error)) << error;
  EXPECT_EQ(again.closedSegments(), 4u);
  EXPECT_EQ(again.recoveredRecords(), 1u);
  EXPECT_EQ(again.truncatedBytes(), 2u);
  std::vector<std::string> records;
  while (auto seg = again.nextClosed(0ms)) {
    for (auto& r : readSegment(seg->path).records) records.push_back(r);
    again.remove(*seg);
  }
  std::sort(records.begin(), records.end());
  EXPECT_EQ(records, (std::vector<std::string>{"r1", "r2", "r3", "r4", std::string(5000, 'x')}));
  EXPECT_EQ(again.bytes(), 0u);
}

TEST(Spool, RefusesPastItsQuota) {
  TempDir d;
  Spool spool;
  std::string error;
  ASSERT_TRUE(spool.open({d.path, 100, 1 << 20, 60s}, error));
  EXPECT_EQ(spool.append({{"a", std::string(50, 'x')}}, error), Spool::Append::ok);
  EXPECT_EQ(spool.append({{"a", std::string(50, 'x')}}, error), Spool::Append::full);
}

TEST(Redaction, HeadersAndJsonFieldsAndBodiesThatCannotBeChecked) {
  RedactionRules rules{{"authorization"}, {parseFieldPath("password"), parseFieldPath("items.*.card")}};
  EXPECT_TRUE(parseFieldPath("a..b").empty());
  auto r = sample(1, R"({"user":"u","password":"p","items":[{"card":"1","n":2},{"card":"3"}]})");
  auto o = json::parse(encodeRecord(r)).as_object();
  ASSERT_TRUE(redactRecord(o, rules));
  EXPECT_FALSE(redactRecord(o, rules)) << "idempotent";
  std::string body;
  base64Decode(o.at("request").at("body").as_string(), body);
  auto doc = json::parse(body);
  EXPECT_EQ(doc.at("password"), "[redacted]");
  EXPECT_EQ(doc.at("user"), "u");
  EXPECT_EQ(doc.at("items").at(0).at("card"), "[redacted]");
  EXPECT_EQ(doc.at("items").at(0).at("n"), 2);
  EXPECT_EQ(o.at("request").at("headers").at(1).at(1), "[redacted]");
  EXPECT_EQ(o.at("redacted"), true);
  // Truncated JSON cannot be checked: replaced whole.
  auto cut = json::parse(encodeRecord(sample(2, R"({"password":"p)"))).as_object();
  ASSERT_TRUE(redactRecord(cut, rules));
  base64Decode(cut.at("request").at("body").as_string(), body);
  EXPECT_EQ(body.find("\"p"), std::string::npos);
}

TEST(Batch, AllOrNothingWithTheLineNamed) {
  auto good = encodeRecord(sample(1));
  auto ok = decodeBatch(gzipCompress(good + "\n" + encodeRecord(sample(2)) + "\n"), "gzip", {}, {});
  EXPECT_EQ(ok.status, 200u) << ok.error;
  EXPECT_EQ(ok.records.size(), 2u);
  EXPECT_EQ(ok.records[0].first, "orders");
  auto bad = decodeBatch(good + "\n{\"id\":1}\n", "", {}, {});
  EXPECT_EQ(bad.status, 400u);
  EXPECT_NE(bad.error.find("line 2"), std::string::npos);
  EXPECT_TRUE(bad.records.empty());
  EXPECT_EQ(decodeBatch(good, "br", {}, {}).status, 415u);
  EXPECT_EQ(decodeBatch(gzipCompress(std::string(4096, '\n')), "gzip", {1000}, {}).status, 413u);
}

TEST(Archive, KeysAndExportDropsDuplicates) {
  ClosedSegment s{"/x", "orders", 1764674400000, "1764674400000-7", 0};
  EXPECT_EQ(archiveKey("capture", s), "capture/orders/2025/12/02/1764674400000-7.ndjson.gz");
  EXPECT_EQ(archiveKey("", s), "orders/2025/12/02/1764674400000-7.ndjson.gz");
  TempDir d;
  DirectorySink sink(d.path);
  auto a = encodeRecord(sample(2)), b = encodeRecord(sample(1));
  ASSERT_EQ(sink.put(archiveKey("", s), gzipCompress(a + "\n" + b + "\n")), "");
  ASSERT_EQ(sink.put("orders/2025/12/02/again.ndjson.gz", gzipCompress(b + "\n")), "");
  ExportStats stats;
  std::string error;
  auto recs = readCaptured(d.path, {}, stats, error);
  ASSERT_EQ(error, "");
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(stats.duplicates, 1u);
  EXPECT_LT(recs[0].at("start").as_string(), recs[1].at("start").as_string()) << "oldest first";
  ExportFilter f;
  f.service = "other";
  EXPECT_TRUE(readCaptured(d.path, f, stats, error).empty());
  auto har = toHar(recs);
  const auto& e = har.at("log").at("entries").at(0);
  EXPECT_EQ(har.at("log").at("version"), "1.2");
  EXPECT_EQ(e.at("request").at("url"), "http://orders.local/o/1?a=1");
  EXPECT_EQ(e.at("request").at("queryString").at(0).at("name"), "a");
  EXPECT_EQ(e.at("request").at("postData").at("text"), "hello");
  EXPECT_EQ(e.at("response").at("status"), 201);
  EXPECT_EQ(e.at("response").at("content").at("text"), "ok");
}

// A forwarder that answers from a script (then 200) and records the batches.
struct FakeForwarder {
  std::deque<HttpReply> script;
  std::vector<size_t> records_per_post;
  HttpTransport transport() {
    return [this](HttpPost p) -> boost::asio::awaitable<HttpReply> {
      auto batch = decodeBatch(p.body, "gzip", {}, {});
      records_per_post.push_back(batch.status == 200 ? batch.records.size() : 0);
      HttpReply r{"", 200, ""};
      if (!script.empty()) {
        r = script.front();
        script.pop_front();
      }
      co_return r;
    };
  }
};

struct ShipperFixture : ::testing::Test {
  prometheus::Registry reg;
  prometheus::Family<prometheus::Counter>& fam = prometheus::BuildCounter().Name("c").Help("h").Register(reg);
  ShipperCounters counters{&fam.Add({{"o", "sent"}}), &fam.Add({{"o", "dropped"}}), &fam.Add({{"o", "failed"}}),
                           &fam.Add({{"o", "redacted"}}), &fam.Add({{"o", "bytes"}})};
  boost::asio::io_context ctx;
  FakeForwarder fwd;
  ShipperSettings settings() {
    ShipperSettings s;
    s.url = "http://forwarder/v1/capture";
    s.batch_delay = 5ms;
    s.max_batch_records = 10;
    s.retry.backoff_base = 1ms;
    s.retry.backoff_max = 2ms;
    return s;
  }
};

TEST_F(ShipperFixture, RetriesUntilAcknowledgedAndKeepsTheQueueBounded) {
  fwd.script = {{"connection refused", 0, ""}, {"", 503, "0"}, {"", 400, ""}};
  CaptureShipper shipper(ctx.get_executor(), fwd.transport(), counters, 2);
  auto s = settings();
  s.queue_bytes = 0;
  for (int i = 0; i < 20; ++i) s.queue_bytes += sample(i).approximateBytes();
  shipper.configure(s);
  shipper.start();
  int accepted = 0;
  for (int i = 0; i < 30; ++i) accepted += shipper.submit(static_cast<unsigned>(i % 2), sample(i)) ? 1 : 0;
  EXPECT_EQ(accepted, 20) << "past queue_bytes, records are dropped";
  EXPECT_LE(shipper.queuedBytes(), shipper.queueLimit());
  bool done = false;
  shipper.shutdown(std::chrono::steady_clock::now() + 5s, [&] { done = true; });
  ctx.run_for(10s);
  EXPECT_TRUE(done);
  EXPECT_EQ(counters.dropped->Value(), 10);
  // The first batch of 10: refused twice (retried), then 400 (not retryable: failed); the second: sent.
  EXPECT_EQ(counters.failed->Value(), 10);
  EXPECT_EQ(counters.sent->Value(), 10);
  EXPECT_EQ(counters.redacted->Value(), 0);
  EXPECT_GT(counters.bytes->Value(), 0);
  EXPECT_EQ(shipper.queuedBytes(), 0u);
  EXPECT_EQ(fwd.records_per_post, (std::vector<size_t>{10, 10, 10, 10}));
}

TEST_F(ShipperFixture, ShutdownWithoutAForwarderGivesUpAtTheDeadline) {
  fwd.script = std::deque<HttpReply>(1000, HttpReply{"connection refused", 0, ""});
  CaptureShipper shipper(ctx.get_executor(), fwd.transport(), counters, 1);
  shipper.configure(settings());
  shipper.start();
  ASSERT_TRUE(shipper.submit(0, sample(1)));
  bool done = false;
  ctx.run_for(50ms);
  shipper.shutdown(std::chrono::steady_clock::now() + 100ms, [&] { done = true; });
  ctx.run_for(5s);
  EXPECT_TRUE(done);
  EXPECT_EQ(counters.failed->Value(), 1);
  EXPECT_EQ(counters.sent->Value(), 0);
  EXPECT_FALSE(shipper.submit(0, sample(2))) << "closed";
}

}  // namespace
}  // namespace hawser::telemetry
