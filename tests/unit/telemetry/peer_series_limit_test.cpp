#include <gtest/gtest.h>

#include <string>

#include "telemetry/metrics.h"

namespace hawser::telemetry {
namespace {

TEST(PeerSeriesLimit, FoldsIdentitiesPastTheBoundIntoOtherAndCountsThem) {
  Metrics m(2);
  const auto n = PeerSeriesLimit::kMaxPeersPerService;
  for (size_t i = 0; i < n; ++i) {
    // Alternate workers: the bound is per service, not per worker.
    auto& stats = m.worker(i % 2).requestStats("inbound", "svc", "spiffe://x/p" + std::to_string(i));
    stats.record(200, 0.001);
  }
  m.worker(0).requestStats("inbound", "svc", "spiffe://x/one-too-many").record(200, 0.001);
  m.worker(1).requestStats("inbound", "svc", "spiffe://x/p0").record(200, 0.001);      // known: kept
  m.worker(1).requestStats("outbound", "svc", "spiffe://x/fresh").record(200, 0.001);  // another series set
  auto text = m.serialize();
  EXPECT_NE(text.find("peer=\"other\""), std::string::npos);
  EXPECT_EQ(text.find("one-too-many"), std::string::npos);
  EXPECT_NE(text.find("spiffe://x/fresh"), std::string::npos);
  EXPECT_NE(text.find("hawser_peer_series_overflow_total{direction=\"inbound\",service=\"svc\"} 1"), std::string::npos)
      << text.substr(0, 2000);
  // "unknown" (plaintext peers) never counts against the bound.
  m.worker(0).requestStats("inbound", "svc", "unknown").record(200, 0.001);
  EXPECT_NE(m.serialize().find("peer=\"unknown\""), std::string::npos);
}

}  // namespace
}  // namespace hawser::telemetry
