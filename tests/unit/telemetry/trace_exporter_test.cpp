#include "telemetry/trace_exporter.h"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <deque>
#include <random>

// GCC 12 misreads a coroutine frame's sized delete as mismatched.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace hawser::telemetry {
namespace {
namespace asio = boost::asio;
using namespace std::chrono_literals;

// A collector that answers from a script (then 200) and records what it got.
struct FakeCollector {
  std::deque<HttpReply> script;
  std::vector<HttpPost> posts;
  std::vector<size_t> spans_per_post;

  HttpTransport transport() {
    return [this](HttpPost p) -> asio::awaitable<HttpReply> {
      auto v = boost::json::parse(p.body);
      spans_per_post.push_back(v.at("resourceSpans").at(0).at("scopeSpans").at(0).at("spans").as_array().size());
      posts.push_back(std::move(p));
      HttpReply r{"", 200, ""};
      if (!script.empty()) {
        r = script.front();
        script.pop_front();
      }
      co_return r;
    };
  }
  size_t accepted() const {  // spans of posts answered 2xx are not tracked per post; see counters
    size_t n = 0;
    for (auto s : spans_per_post) n += s;
    return n;
  }
};

class ExporterTest : public ::testing::Test {
 protected:
  ExporterTest()
      : family_(prometheus::BuildCounter().Name("spans").Register(registry_)),
        counters_{&family_.Add({{"o", "exported"}}), &family_.Add({{"o", "dropped"}}),
                  &family_.Add({{"o", "failed"}})} {}

  ExporterSettings settings() {
    ExporterSettings s;
    s.url = "http://127.0.0.1:4318/v1/traces";
    s.json = true;
    s.gzip = false;
    s.batch_delay = 1h;  // only a full batch or a shutdown sends anything
    s.backoff_base = 1ms;
    s.backoff_max = 2ms;
    return s;
  }

  SpanRecord span() {
    SpanRecord s;
    s.trace = newTraceId(gen_);
    s.span = newSpanId(gen_);
    s.name = "GET";
    s.kind = SpanKind::client;
    return s;
  }

  // Runs the loop until `done` or 10 s of wall time (never hangs a test run).
  template <class Pred>
  void runUntil(Pred done) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      ioc_.run_for(10ms);
      if (ioc_.stopped()) ioc_.restart();
    }
  }

  double value(int i) { return (i == 0 ? counters_.exported : i == 1 ? counters_.dropped : counters_.failed)->Value(); }

  asio::io_context ioc_;
  prometheus::Registry registry_;
  prometheus::Family<prometheus::Counter>& family_;
  ExporterCounters counters_;
  std::mt19937_64 gen_{5};
  FakeCollector collector_;
};

TEST_F(ExporterTest, AFullBatchIsSentWithoutWaitingForTheDelayInBatchesOfTheConfiguredSize) {
  TraceExporter e(ioc_.get_executor(), collector_.transport(), counters_);
  auto s = settings();
  s.max_batch_spans = 3;
  e.configure(s, {{"service.name", "x"}});
  e.start();
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(e.submit(span()));
  runUntil([&] { return value(0) == 7; });
  EXPECT_EQ(value(0), 7);
  EXPECT_EQ(collector_.spans_per_post, (std::vector<size_t>{3, 3, 1}));
  EXPECT_EQ(e.queued(), 0u);
  const auto& h = collector_.posts[0].headers;
  EXPECT_NE(std::find(h.begin(), h.end(), std::make_pair(std::string("Content-Type"), std::string("application/json"))),
            h.end());
}

TEST_F(ExporterTest, RetriesARetryableStatusAndLosesNothing) {
  collector_.script = {{"", 503, "0"}, {"connection refused", 0, ""}, {"", 429, ""}};
  TraceExporter e(ioc_.get_executor(), collector_.transport(), counters_);
  auto s = settings();
  s.max_batch_spans = 2;
  e.configure(s, {});
  e.start();
  e.submit(span());
  e.submit(span());
  runUntil([&] { return value(0) == 2; });
  EXPECT_EQ(value(0), 2);
  EXPECT_EQ(value(2), 0);
  EXPECT_EQ(collector_.posts.size(), 4u);
  EXPECT_EQ(collector_.posts[0].body, collector_.posts[3].body);  // the same batch again
}

TEST_F(ExporterTest, ARefusalThatRetryingCannotFixFailsTheBatchAtOnce) {
  collector_.script = {{"", 400, ""}};
  TraceExporter e(ioc_.get_executor(), collector_.transport(), counters_);
  auto s = settings();
  s.max_batch_spans = 1;
  e.configure(s, {});
  e.start();
  e.submit(span());
  runUntil([&] { return value(2) == 1; });
  EXPECT_EQ(value(2), 1);
  EXPECT_EQ(collector_.posts.size(), 1u);
}

TEST_F(ExporterTest, GivesUpAfterMaxAttemptsAndOnALongRetryAfter) {
  collector_.script = {{"", 503, ""}, {"", 503, ""}, {"", 503, ""}, {"", 503, "3600"}};
  TraceExporter e(ioc_.get_executor(), collector_.transport(), counters_);
  auto s = settings();
  s.max_batch_spans = 1;
  s.max_attempts = 3;
  e.configure(s, {});
  e.start();
  e.submit(span());
  runUntil([&] { return value(2) == 1; });
  EXPECT_EQ(collector_.posts.size(), 3u);
  e.submit(span());  // the next batch meets the hour-long Retry-After: no waiting it out
  runUntil([&] { return value(2) == 2; });
  EXPECT_EQ(collector_.posts.size(), 4u);
}

TEST_F(ExporterTest, AFullQueueDropsAndCounts) {
  TraceExporter e(ioc_.get_executor(), collector_.transport(), counters_);
  auto s = settings();
  s.max_queue_spans = 3;
  s.max_batch_spans = 100;
  e.configure(s, {});
  e.start();
  int accepted = 0;
  for (int i = 0; i < 5; ++i) accepted += e.submit(span());
  EXPECT_EQ(accepted, 3);
  EXPECT_EQ(value(1), 2);
  EXPECT_EQ(e.queued(), 3u);
}

TEST_F(ExporterTest, ShutdownFlushesWhatIsQueuedThenRefusesMore) {
  TraceExporter e(ioc_.get_executor(), collector_.transport(), counters_);
  e.configure(settings(), {});
  e.start();
  e.submit(span());
  e.submit(span());
  ioc_.run_for(200ms);  // nothing is sent before the (hour-long) delay
  ioc_.restart();
  EXPECT_TRUE(collector_.posts.empty());
  bool done = false;
  e.shutdown(std::chrono::steady_clock::now() + 5s, [&] { done = true; });
  runUntil([&] { return done; });
  EXPECT_TRUE(done);
  EXPECT_EQ(value(0), 2);
  EXPECT_FALSE(e.submit(span()));
}

TEST_F(ExporterTest, ShutdownAgainstADownCollectorEndsByItsDeadline) {
  for (int i = 0; i < 100; ++i) collector_.script.push_back({"connection refused", 0, ""});
  TraceExporter e(ioc_.get_executor(), collector_.transport(), counters_);
  auto s = settings();
  s.backoff_base = 50ms;
  s.backoff_max = 50ms;
  s.max_attempts = 1000;
  e.configure(s, {});
  e.start();
  e.submit(span());
  bool done = false;
  const auto start = std::chrono::steady_clock::now();
  e.shutdown(start + 300ms, [&] { done = true; });
  runUntil([&] { return done; });
  EXPECT_TRUE(done);
  EXPECT_EQ(value(2), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

}  // namespace
}  // namespace hawser::telemetry
