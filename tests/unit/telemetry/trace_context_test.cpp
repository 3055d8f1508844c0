#include "telemetry/trace_context.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace hawser::telemetry {
namespace {

constexpr const char* kTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr const char* kSpan = "00f067aa0ba902b7";

TEST(Traceparent, ReadsLevelOneAndWritesItBack) {
  auto c = parseTraceparent(std::string("00-") + kTrace + "-" + kSpan + "-01");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->trace.hex(), kTrace);
  EXPECT_EQ(c->parent.hex(), kSpan);
  EXPECT_EQ(c->sampled, true);
  EXPECT_EQ(formatTraceparent(c->trace, c->parent, false), std::string("00-") + kTrace + "-" + kSpan + "-00");
  auto unsampled = parseTraceparent(std::string("00-") + kTrace + "-" + kSpan + "-00");
  ASSERT_TRUE(unsampled);
  EXPECT_EQ(unsampled->sampled, false);
}

TEST(Traceparent, RefusesWhatTheSpecificationDoesNotAllow) {
  const std::string t = kTrace, s = kSpan;
  for (const std::string& bad : std::vector<std::string>{
           "00-" + t + "-" + s + "-01-extra",                   // version 00 has exactly four fields
           "ff-" + t + "-" + s + "-01",                         // version ff is invalid
           "00-00000000000000000000000000000000-" + s + "-01",  // all-zero trace id
           "00-" + t + "-0000000000000000-01",                  // all-zero parent id
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-" + s + "-01",  // upper-case hex
           "00-" + t + "-" + s + "-1",                          // short flags
           "00-" + t.substr(1) + "-" + s + "-01",               // short trace id
           "00_" + t + "-" + s + "-01",
           "0g-" + t + "-" + s + "-01",
           std::string(),
           std::string("00"),
       }) {
    EXPECT_FALSE(parseTraceparent(bad)) << bad;
  }
}

TEST(Traceparent, ReadsALaterVersionByItsFirstFourFields) {
  const std::string base = std::string("01-") + kTrace + "-" + kSpan + "-01";
  EXPECT_TRUE(parseTraceparent(base));
  EXPECT_TRUE(parseTraceparent(base + "-what-the-future-adds"));
  EXPECT_FALSE(parseTraceparent(base + "x"));  // after the flags: '-' or the end
}

TEST(Tracestate, KeepsWellFormedListsOnly) {
  EXPECT_TRUE(validTracestate("vendor=a1,other=b2"));
  EXPECT_TRUE(validTracestate("tenant@system=value, ,rojo=00f067aa0ba902b7"));
  EXPECT_TRUE(validTracestate(""));
  EXPECT_FALSE(validTracestate("Upper=1"));
  EXPECT_FALSE(validTracestate("novalue="));
  EXPECT_FALSE(validTracestate("=novalue"));
  EXPECT_FALSE(validTracestate("a=b=c"));
  EXPECT_FALSE(validTracestate("a=\x01"));
  std::string many;
  for (int i = 0; i < 33; ++i) many += (i ? "," : "") + std::string("k") + std::to_string(i) + "=v";
  EXPECT_FALSE(validTracestate(many));  // more than 32 members
  EXPECT_FALSE(validTracestate("k=" + std::string(600, 'v')));
}

TEST(Xray, ReadsAnyFieldOrderAndWritesTheCanonicalForm) {
  auto c = parseXrayHeader(
      "Self=1-67891234-12456789abcdef012345678;Sampled=1;Parent=53995c3f42cd8ad8;"
      "Root=1-5759e988-bd862e3fe1be46a994272793");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->trace.hex(), "5759e988bd862e3fe1be46a994272793");
  EXPECT_EQ(c->parent.hex(), "53995c3f42cd8ad8");
  EXPECT_EQ(c->sampled, true);
  EXPECT_EQ(formatXrayHeader(c->trace, c->parent, true),
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1");
  auto deferred = parseXrayHeader("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?");
  ASSERT_TRUE(deferred);
  EXPECT_FALSE(deferred->sampled.has_value());
}

TEST(Xray, ARootWithoutParentKeepsTheTraceIdOnly) {
  auto c = parseXrayHeader("Root=1-5759e988-bd862e3fe1be46a994272793");  // what an ALB adds
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->traceOnly());
  EXPECT_FALSE(c->valid());
  EXPECT_EQ(c->trace.hex(), "5759e988bd862e3fe1be46a994272793");
  EXPECT_FALSE(parseXrayHeader("Root=1-00000000-000000000000000000000000"));
}

TEST(Xray, RefusesMalformedHeaders) {
  for (const char* bad : {
           "Root=2-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",  // version 2
           "Root=1-5759e98-8bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",
           "Root=1-5759e988-bd862e3fe1be46a99427279;Parent=53995c3f42cd8ad8",
           "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad",
           "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=yes",
           "Root=1-5759e988-bd862e3fe1be46a994272793;Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",
           "",
       }) {
    EXPECT_FALSE(parseXrayHeader(bad)) << bad;
  }
}

TEST(B3, SingleHeaderForms) {
  auto c = parseB3Single(std::string(kTrace) + "-" + kSpan + "-1-05e3ac9a4f6e3b90");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->trace.hex(), kTrace);
  EXPECT_EQ(c->sampled, true);
  auto debug = parseB3Single(std::string(kTrace) + "-" + kSpan + "-d");
  ASSERT_TRUE(debug);
  EXPECT_EQ(debug->sampled, true);
  auto deferred = parseB3Single(std::string(kTrace) + "-" + kSpan);
  ASSERT_TRUE(deferred);
  EXPECT_FALSE(deferred->sampled.has_value());
  auto short_id = parseB3Single(std::string("a3ce929d0e0e4736-") + kSpan + "-0");
  ASSERT_TRUE(short_id);  // a 64-bit trace id is the low half
  EXPECT_EQ(short_id->trace.hex(), "0000000000000000a3ce929d0e0e4736");
  EXPECT_EQ(short_id->sampled, false);
  EXPECT_FALSE(parseB3Single("0"));  // a decision alone carries no context
  EXPECT_FALSE(parseB3Single(std::string(kTrace) + "-" + kSpan + "-2"));
  EXPECT_FALSE(parseB3Single(std::string(kTrace) + "-" + kSpan + "-1-zz"));
  EXPECT_FALSE(parseB3Single(std::string(kTrace) + "-"));
  EXPECT_EQ(formatB3Single(c->trace, c->parent, true), std::string(kTrace) + "-" + kSpan + "-1");
}

TEST(B3, MultiHeaderForms) {
  auto c = parseB3Multi(kTrace, kSpan, "1", "");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->sampled, true);
  EXPECT_EQ(parseB3Multi(kTrace, kSpan, "false", "")->sampled, false);
  EXPECT_EQ(parseB3Multi(kTrace, kSpan, "0", "1")->sampled, true);  // debug wins
  EXPECT_FALSE(parseB3Multi(kTrace, kSpan, "", "").value().sampled.has_value());
  EXPECT_FALSE(parseB3Multi(kTrace, "", "1", ""));
  EXPECT_FALSE(parseB3Multi(kTrace, kSpan, "maybe", ""));
}

TEST(Sampler, ParentDecisionWinsThenTheRatio) {
  Sampler s;
  s.root = Sampler::Root::ratio;
  s.ratio = 0;
  IncomingContext sampled{};
  sampled.sampled = true;
  TraceId t;
  t.bytes.fill(0x11);
  EXPECT_TRUE(s.sample(sampled, t));
  IncomingContext refused{};
  refused.sampled = false;
  s.ratio = 1;
  EXPECT_FALSE(s.sample(refused, t));
  EXPECT_TRUE(s.sample(std::nullopt, t));
  s.parent_based = false;
  EXPECT_TRUE(s.sample(refused, t));  // traceidratio alone ignores the parent
}

TEST(Sampler, RatioDecidesByTraceIdAboutAsOftenAsAsked) {
  Sampler s;
  s.root = Sampler::Root::ratio;
  s.ratio = 0.25;
  std::mt19937_64 gen(7);
  int yes = 0;
  for (int i = 0; i < 20000; ++i) {
    auto t = newTraceId(gen);
    bool first = s.sample(std::nullopt, t);
    EXPECT_EQ(first, s.sample(std::nullopt, t));  // the same id, the same decision
    yes += first;
  }
  EXPECT_GT(yes, 4500);
  EXPECT_LT(yes, 5500);
}

TEST(Sampler, FromTheOtelEnvironment) {
  auto s = samplerFromEnvironment("parentbased_traceidratio", "0.5");
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->parent_based);
  EXPECT_EQ(s->root, Sampler::Root::ratio);
  EXPECT_DOUBLE_EQ(s->ratio, 0.5);
  auto off = samplerFromEnvironment("always_off", "");
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->parent_based);
  EXPECT_EQ(off->root, Sampler::Root::always_off);
  EXPECT_DOUBLE_EQ(samplerFromEnvironment("traceidratio", "2")->ratio, 1.0);  // invalid: the default
  EXPECT_FALSE(samplerFromEnvironment("jaeger_remote", ""));
  EXPECT_FALSE(samplerFromEnvironment("parentbased", ""));
}

TEST(Ids, NeverZeroAndXrayIdsStartWithTheEpoch) {
  std::mt19937_64 gen(1);
  auto t = newTraceId(gen, 0x5759e988u);
  EXPECT_EQ(t.hex().substr(0, 8), "5759e988");
  EXPECT_TRUE(newSpanId(gen).valid());
}

}  // namespace
}  // namespace hawser::telemetry
