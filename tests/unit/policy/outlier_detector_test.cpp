#include "policy/outlier_detector.h"

#include <gtest/gtest.h>

#include <vector>

#include "fake_clock.h"

namespace hawser::policy {
namespace {

using std::chrono::seconds;
using testing::FakeClock;

OutlierDetectionPolicy policyWith(std::uint32_t percent) {
  OutlierDetectionPolicy p;
  p.consecutive_5xx = 5;
  p.consecutive_gateway_errors = 3;
  p.interval = seconds(10);
  p.base_ejection = seconds(30);
  p.max_ejection = seconds(300);
  p.max_ejection_percent = percent;
  return p;
}

// Records `n` outcomes; returns the ejection the last one caused, if any.
std::optional<EjectionEvent> recordN(OutlierDetector& d, std::size_t endpoint, int n, UpstreamOutcome outcome,
                                     TimePoint now) {
  std::optional<EjectionEvent> last;
  for (int i = 0; i < n; ++i) last = d.record(endpoint, outcome, now);
  return last;
}

TEST(OutlierDetectorTest, Consecutive5xxEjects) {
  FakeClock clock;
  OutlierDetector d(policyWith(100), 4);
  EXPECT_EQ(recordN(d, 1, 4, UpstreamOutcome::response(500), clock.now), std::nullopt);
  EXPECT_FALSE(d.isEjected(1));
  const auto event = d.record(1, UpstreamOutcome::response(500), clock.now);
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->endpoint, 1u);
  EXPECT_EQ(event->reason, EjectionReason::consecutive_5xx);
  EXPECT_EQ(ejectionReasonName(event->reason), "consecutive_5xx");
  EXPECT_EQ(event->times_ejected, 1u);
  EXPECT_EQ(event->duration, seconds(30));
  EXPECT_EQ(event->until, clock.now + seconds(30));
  EXPECT_TRUE(d.isEjected(1));
  EXPECT_EQ(d.ejectedUntil(1), clock.now + seconds(30));
  EXPECT_EQ(d.ejectedCount(), 1u);
  EXPECT_EQ(d.ejectionsTotal(), 1u);
  EXPECT_FALSE(d.isEjected(0));
}

TEST(OutlierDetectorTest, SuccessOr4xxResetsTheCount) {
  FakeClock clock;
  OutlierDetector d(policyWith(100), 2);
  recordN(d, 0, 4, UpstreamOutcome::response(500), clock.now);
  d.record(0, UpstreamOutcome::response(404), clock.now);
  EXPECT_EQ(recordN(d, 0, 4, UpstreamOutcome::response(500), clock.now), std::nullopt);
  d.record(0, UpstreamOutcome::response(200), clock.now);
  EXPECT_EQ(recordN(d, 0, 4, UpstreamOutcome::response(500), clock.now), std::nullopt);
  EXPECT_TRUE(d.record(0, UpstreamOutcome::response(500), clock.now).has_value());
}

TEST(OutlierDetectorTest, GatewayErrorsAndConnectFailuresEjectSooner) {
  FakeClock clock;
  OutlierDetector d(policyWith(100), 3);
  d.record(0, UpstreamOutcome::response(502), clock.now);
  d.record(0, UpstreamOutcome::connectFailure(), clock.now);
  const auto event = d.record(0, UpstreamOutcome::response(504), clock.now);
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->reason, EjectionReason::consecutive_gateway_errors);

  // A timeout and a reset count as gateway errors too.
  d.record(1, UpstreamOutcome::timeout(), clock.now);
  d.record(1, UpstreamOutcome::reset(), clock.now);
  EXPECT_TRUE(d.record(1, UpstreamOutcome::response(503), clock.now).has_value());
}

TEST(OutlierDetectorTest, Other5xxResetsGatewayCountButNot5xxCount) {
  FakeClock clock;
  OutlierDetector d(policyWith(100), 1);
  d.record(0, UpstreamOutcome::response(503), clock.now);
  d.record(0, UpstreamOutcome::response(503), clock.now);
  d.record(0, UpstreamOutcome::response(500), clock.now);  // gateway count back to 0
  d.record(0, UpstreamOutcome::response(503), clock.now);
  EXPECT_FALSE(d.isEjected(0));
  const auto event = d.record(0, UpstreamOutcome::response(503), clock.now);  // fifth 5xx
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->reason, EjectionReason::consecutive_5xx);
}

TEST(OutlierDetectorTest, ZeroThresholdDisablesThatDetector) {
  FakeClock clock;
  OutlierDetectionPolicy p = policyWith(100);
  p.consecutive_5xx = 0;
  p.consecutive_gateway_errors = 0;
  OutlierDetector d(p, 1);
  EXPECT_EQ(recordN(d, 0, 100, UpstreamOutcome::response(503), clock.now), std::nullopt);
  EXPECT_FALSE(d.isEjected(0));
}

TEST(OutlierDetectorTest, ReturnsAfterEjectionTime) {
  FakeClock clock;
  OutlierDetector d(policyWith(100), 2);
  recordN(d, 0, 5, UpstreamOutcome::response(500), clock.now);
  ASSERT_TRUE(d.isEjected(0));
  clock.advance(seconds(29));
  EXPECT_TRUE(d.evaluate(clock.now).empty());
  EXPECT_TRUE(d.isEjected(0));
  clock.advance(seconds(1));
  EXPECT_EQ(d.evaluate(clock.now), (std::vector<std::size_t>{0}));
  EXPECT_FALSE(d.isEjected(0));
  EXPECT_EQ(d.ejectedCount(), 0u);
  EXPECT_EQ(d.ejectedUntil(0), std::nullopt);
  EXPECT_TRUE(d.evaluate(clock.now).empty());
}

TEST(OutlierDetectorTest, OutcomesWhileEjectedAreIgnored) {
  FakeClock clock;
  OutlierDetector d(policyWith(100), 1);
  recordN(d, 0, 5, UpstreamOutcome::response(500), clock.now);
  EXPECT_EQ(recordN(d, 0, 20, UpstreamOutcome::response(500), clock.now), std::nullopt);
  EXPECT_EQ(d.ejectionsTotal(), 1u);
  EXPECT_EQ(d.timesEjected(0), 1u);
  EXPECT_EQ(d.record(7, UpstreamOutcome::response(500), clock.now), std::nullopt);
}

TEST(OutlierDetectorTest, EjectionTimeGrowsWithTimesEjectedUpToTheCap) {
  FakeClock clock;
  OutlierDetector d(policyWith(100), 1);
  const std::vector<seconds> expected{seconds(30),  seconds(60),  seconds(90),  seconds(120),
                                      seconds(150), seconds(180), seconds(210), seconds(240),
                                      seconds(270), seconds(300), seconds(300), seconds(300)};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const auto event = recordN(d, 0, 5, UpstreamOutcome::response(500), clock.now);
    ASSERT_TRUE(event.has_value()) << i;
    EXPECT_EQ(event->times_ejected, i + 1);
    EXPECT_EQ(event->duration, expected[i]) << i;
    clock.advance(event->duration);
    EXPECT_EQ(d.evaluate(clock.now).size(), 1u);  // returns; no time to decay
  }
  EXPECT_EQ(d.timesEjected(0), 12u);
}

TEST(OutlierDetectorTest, EjectionDurationCapIsAtLeastTheBase) {
  OutlierDetectionPolicy p = policyWith(100);
  p.base_ejection = seconds(30);
  p.max_ejection = seconds(10);
  OutlierDetector d(p, 1);
  EXPECT_EQ(d.ejectionDuration(1), seconds(30));
  EXPECT_EQ(d.ejectionDuration(5), seconds(30));
  EXPECT_EQ(d.ejectionDuration(0xFFFFFFFFu), seconds(30));
}

TEST(OutlierDetectorTest, TimesEjectedDecaysOnePerHealthyInterval) {
  FakeClock clock;
  OutlierDetector d(policyWith(100), 1);
  for (int i = 0; i < 3; ++i) {
    const auto event = recordN(d, 0, 5, UpstreamOutcome::response(500), clock.now);
    ASSERT_TRUE(event.has_value());
    clock.advance(event->duration);
    d.evaluate(clock.now);
  }
  ASSERT_EQ(d.timesEjected(0), 3u);
  clock.advance(seconds(9));
  d.evaluate(clock.now);
  EXPECT_EQ(d.timesEjected(0), 3u);
  clock.advance(seconds(1));
  d.evaluate(clock.now);
  EXPECT_EQ(d.timesEjected(0), 2u);
  // Evaluated late: two whole intervals pass at once, the remainder carries.
  clock.advance(seconds(25));
  d.evaluate(clock.now);
  EXPECT_EQ(d.timesEjected(0), 0u);
  // Back to the base ejection time.
  const auto event = recordN(d, 0, 5, UpstreamOutcome::response(500), clock.now);
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->duration, seconds(30));
}

TEST(OutlierDetectorTest, PercentCapAllowsOneThenEnforcesThePercentage) {
  FakeClock clock;
  // 10 endpoints at 20%: two may be ejected at once.
  OutlierDetector d(policyWith(20), 10);
  EXPECT_TRUE(recordN(d, 0, 5, UpstreamOutcome::response(500), clock.now).has_value());
  EXPECT_TRUE(recordN(d, 1, 5, UpstreamOutcome::response(500), clock.now).has_value());
  EXPECT_EQ(recordN(d, 2, 5, UpstreamOutcome::response(500), clock.now), std::nullopt);
  EXPECT_FALSE(d.isEjected(2));
  EXPECT_EQ(d.ejectedCount(), 2u);
  EXPECT_EQ(d.ejectionsRefused(), 1u);

  // The refused endpoint's counts restarted: it needs five more failures.
  clock.advance(seconds(30));
  EXPECT_EQ(d.evaluate(clock.now).size(), 2u);
  EXPECT_EQ(recordN(d, 2, 4, UpstreamOutcome::response(500), clock.now), std::nullopt);
  EXPECT_TRUE(d.record(2, UpstreamOutcome::response(500), clock.now).has_value());
}

TEST(OutlierDetectorTest, OneMayAlwaysBeEjectedInASmallCluster) {
  FakeClock clock;
  OutlierDetector d(policyWith(10), 3);  // 10% of 3 is less than one endpoint
  EXPECT_TRUE(recordN(d, 0, 5, UpstreamOutcome::response(500), clock.now).has_value());
  EXPECT_EQ(recordN(d, 1, 5, UpstreamOutcome::response(500), clock.now), std::nullopt);
  EXPECT_EQ(d.ejectedCount(), 1u);
  EXPECT_EQ(d.ejectionsRefused(), 1u);
}

TEST(OutlierDetectorTest, HalfCapOnFourEndpoints) {
  FakeClock clock;
  OutlierDetector d(policyWith(50), 4);
  EXPECT_TRUE(recordN(d, 0, 5, UpstreamOutcome::response(500), clock.now).has_value());
  EXPECT_TRUE(recordN(d, 1, 5, UpstreamOutcome::response(500), clock.now).has_value());
  EXPECT_EQ(recordN(d, 2, 5, UpstreamOutcome::response(500), clock.now), std::nullopt);
}

TEST(OutlierDetectorTest, ZeroPercentDisablesEjection) {
  FakeClock clock;
  OutlierDetector d(policyWith(0), 3);
  EXPECT_EQ(recordN(d, 0, 5, UpstreamOutcome::response(500), clock.now), std::nullopt);
  EXPECT_EQ(d.ejectionsRefused(), 1u);
}

TEST(OutlierDetectorTest, RemapCarriesStateWithTheEndpoint) {
  FakeClock clock;
  OutlierDetector d(policyWith(100), 3);
  recordN(d, 2, 5, UpstreamOutcome::response(500), clock.now);
  recordN(d, 0, 4, UpstreamOutcome::response(500), clock.now);
  ASSERT_TRUE(d.isEjected(2));
  // New order: old 2, a new endpoint, old 0. Old 1 is gone.
  const std::vector<std::size_t> new_to_old{2, OutlierDetector::kNewEndpoint, 0};
  d.remap(new_to_old);
  EXPECT_EQ(d.endpointCount(), 3u);
  EXPECT_TRUE(d.isEjected(0));
  EXPECT_FALSE(d.isEjected(1));
  EXPECT_EQ(d.ejectedCount(), 1u);
  EXPECT_TRUE(d.record(2, UpstreamOutcome::response(500), clock.now).has_value());  // fifth

  d.resize(1);
  EXPECT_EQ(d.ejectedCount(), 1u);
  d.resize(0);
  EXPECT_EQ(d.ejectedCount(), 0u);
}

}  // namespace
}  // namespace hawser::policy
