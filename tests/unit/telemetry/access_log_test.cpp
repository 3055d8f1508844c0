#include "telemetry/access_log.h"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "telemetry/log.h"

namespace hawser::telemetry {
namespace {

using namespace std::chrono_literals;

// Keeps what the writer hands it; can be held so the writer stalls inside write().
class TestSink : public AccessLogSink {
 public:
  size_t write(std::span<const std::string_view> chunks) override {
    std::unique_lock lock(mutex_);
    ++calls_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return !held_; });
    size_t n = 0;
    for (auto c : chunks) {
      data_.append(c);
      n += c.size();
    }
    return n;
  }
  void hold() {
    std::lock_guard lock(mutex_);
    held_ = true;
  }
  void release() {
    {
      std::lock_guard lock(mutex_);
      held_ = false;
    }
    cv_.notify_all();
  }
  // Waits (with a deadline) until the writer has entered write() `n` times.
  bool waitForCalls(int n) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, 10s, [&] { return calls_ >= n; });
  }
  std::vector<std::string> lines() {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    std::istringstream in(data_);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    EXPECT_TRUE(data_.empty() || data_.back() == '\n') << "last line cut short";
    return out;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool held_ = false;
  int calls_ = 0;
  std::string data_;
};

AccessRecord record(std::string_view id) {
  AccessRecord r;
  r.request_id = id;
  r.direction = "outbound";
  r.method = "GET";
  r.authority = "responder";
  r.path = "/data";
  r.upstream = "127.0.0.1:42169";
  r.status = 200;
  r.duration_ms = 3.49;
  r.bytes_sent = 67;
  return r;
}

std::string requestId(const std::string& line) {
  auto at = line.find("\"request_id\":\"");
  if (at == std::string::npos) return {};
  at += 14;
  return line.substr(at, line.find('"', at) - at);
}

TEST(AccessLogLine, FormatIsTheDocumentedOne) {
  AccessRecord r = record("8c466c25");
  r.path = "/a\"b\\c\n\x01";
  r.reason = "upstream-timeout";
  r.bytes_received = 18446744073709551615ULL;
  std::string line;
  appendAccessLine(line, r);
  ASSERT_GT(line.size(), 34U);
  EXPECT_EQ(line.substr(0, 9), "{\"time\":\"");
  EXPECT_EQ(line[32], 'Z');  // 2026-11-22T03:53:49.999Z
  EXPECT_EQ(line.substr(33),
            "\",\"log\":\"access\",\"request_id\":\"8c466c25\",\"direction\":\"outbound\",\"method\":\"GET\","
            "\"authority\":\"responder\",\"path\":\"/a\\\"b\\\\c\\n\\u0001\",\"status\":200,\"duration_ms\":3.490,"
            "\"upstream\":\"127.0.0.1:42169\",\"bytes_received\":18446744073709551615,\"bytes_sent\":67,"
            "\"reason\":\"upstream-timeout\"}\n");
}

TEST(AccessLog, LinesFromManyThreadsArriveWholeAndInOrder) {
  auto sink = std::make_unique<TestSink>();
  auto* s = sink.get();
  constexpr int kThreads = 4;
  constexpr int kLines = 5000;
  // Room for every line, so none can drop; a low wake threshold makes the
  // writer swap buffers many times while the producers run.
  AccessLog log(std::move(sink), {.buffer_bytes = 4 << 20, .wake_bytes = 2048, .flush_interval = 1ms});
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&log, t] {
      for (int i = 0; i < kLines; ++i) {
        std::string id = std::to_string(t) + "-" + std::to_string(i);
        log.write(record(id));
      }
    });
  }
  for (auto& th : threads) th.join();
  log.stop();
  EXPECT_EQ(log.dropped(), 0U);
  auto lines = s->lines();
  ASSERT_EQ(lines.size(), size_t{kThreads * kLines});
  std::vector<int> next(kThreads, 0);
  std::string expected_tail;
  appendAccessLine(expected_tail, record("0-0"));
  expected_tail = expected_tail.substr(expected_tail.find("\",\"direction\""));
  expected_tail.pop_back();  // '\n'
  for (const auto& l : lines) {
    auto id = requestId(l);
    auto dash = id.find('-');
    ASSERT_NE(dash, std::string::npos) << l;
    int t = std::stoi(id.substr(0, dash));
    ASSERT_GE(t, 0);
    ASSERT_LT(t, kThreads);
    EXPECT_EQ(std::stoi(id.substr(dash + 1)), next[t]++) << "out of order for thread " << t;
    EXPECT_EQ(l.substr(0, 9), "{\"time\":\"");
    EXPECT_EQ(l.substr(l.find("\",\"direction\"")), expected_tail) << "line not whole: " << l;
  }
}

TEST(AccessLog, FullBufferDropsAndCountsWithoutBlocking) {
  std::string one;
  appendAccessLine(one, record("x"));
  const size_t line = one.size();
  prometheus::Registry registry;
  auto& dropped = prometheus::BuildCounter().Name("dropped_total").Help("h").Register(registry).Add({});
  auto sink = std::make_unique<TestSink>();
  auto* s = sink.get();
  AccessLog log(std::move(sink), {.buffer_bytes = 10 * line, .wake_bytes = 1, .flush_interval = 1h}, &dropped);
  s->hold();
  log.write(record("x"));  // wakes the writer, which takes it and stalls in write()
  ASSERT_TRUE(s->waitForCalls(1));
  // The writer is stuck: this thread's buffer fills after 10 lines; the rest
  // drop, and write() returns every time.
  for (int i = 0; i < 100; ++i) log.write(record("x"));
  EXPECT_EQ(log.dropped(), 90U);
  EXPECT_EQ(dropped.Value(), 90.0);
  s->release();
  log.stop();
  EXPECT_EQ(s->lines().size(), 11U);
  EXPECT_EQ(log.dropped(), 90U);
}

TEST(AccessLog, StopFlushesEverythingBuffered) {
  auto sink = std::make_unique<TestSink>();
  auto* s = sink.get();
  // Neither the interval nor the threshold comes: only stop() writes.
  AccessLog log(std::move(sink), {.buffer_bytes = 1 << 20, .wake_bytes = 1 << 20, .flush_interval = 1h});
  std::vector<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.push_back("id-" + std::to_string(i));
  for (const auto& id : ids) log.write(record(id));
  log.stop();
  auto lines = s->lines();
  ASSERT_EQ(lines.size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(requestId(lines[i]), ids[i]);
  log.write(record("late"));  // after stop: dropped and counted
  EXPECT_EQ(log.dropped(), 1U);
  EXPECT_EQ(s->lines().size(), ids.size());
}

TEST(AccessLog, FileIsAppendedToAndHasEveryLineAfterDestruction) {
  auto path = std::filesystem::temp_directory_path() / ("hawser-access-" + std::to_string(::getpid()) + ".log");
  { std::ofstream(path) << "earlier\n"; }
  {
    AccessLog log(path.string());
    EXPECT_TRUE(log.enabled());
    for (int i = 0; i < 300; ++i) log.write(record("f-" + std::to_string(i)));
  }
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::filesystem::remove(path);
  ASSERT_EQ(lines.size(), 301U);
  EXPECT_EQ(lines[0], "earlier");
  for (int i = 0; i < 300; ++i) EXPECT_EQ(requestId(lines[i + 1]), "f-" + std::to_string(i));
}

TEST(AccessLog, OffWritesNothing) {
  AccessLog log("off");
  EXPECT_FALSE(log.enabled());
  log.write(record("x"));
  EXPECT_EQ(log.dropped(), 0U);
}

TEST(AccessLog, StdoutLinesNeverInterleaveWithApplicationLogLines) {
  auto path = std::filesystem::temp_directory_path() / ("hawser-stdout-" + std::to_string(::getpid()) + ".log");
  std::fflush(stdout);
  int saved = ::dup(STDOUT_FILENO);
  ASSERT_GE(saved, 0);
  std::FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  ::dup2(::fileno(f), STDOUT_FILENO);
  constexpr int kLines = 2000;
  uint64_t dropped = 0;
  {
    AccessLog log("stdout");
    std::thread app([] {
      for (int i = 0; i < kLines; ++i) log::info("application line", {{"i", i}});
    });
    std::thread worker([&log] {
      for (int i = 0; i < kLines; ++i) log.write(record("s-" + std::to_string(i)));
    });
    app.join();
    worker.join();
    // A producer faster than the writer may fill its buffer: those lines are
    // dropped and counted, never interleaved.
    dropped = log.dropped();
  }
  std::fflush(stdout);
  ::dup2(saved, STDOUT_FILENO);
  ::close(saved);
  std::fclose(f);
  std::ifstream in(path);
  int access = 0;
  int app = 0;
  int last = -1;
  for (std::string l; std::getline(in, l);) {
    ASSERT_EQ(l.substr(0, 9), "{\"time\":\"") << l;
    ASSERT_EQ(l.back(), '}') << l;
    ASSERT_EQ(std::count(l.begin(), l.end(), '{'), 1) << "two lines in one: " << l;
    if (l.find("\"log\":\"access\"") != std::string::npos) {
      const int id = std::stoi(requestId(l).substr(2));
      EXPECT_GT(id, last) << "out of order";
      last = id;
      ++access;
    } else {
      ++app;
    }
  }
  std::filesystem::remove(path);
  EXPECT_GT(access, 0);
  EXPECT_EQ(static_cast<uint64_t>(access) + dropped, static_cast<uint64_t>(kLines));
  EXPECT_EQ(app, kLines);
}

}  // namespace
}  // namespace hawser::telemetry
