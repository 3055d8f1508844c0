// The sidecar's half of capture: the shipper (telemetry/capture/shipper.h)
// and the transport it POSTs through: discovery's HTTP client, over mutual
// TLS with this task's certificate when capture.tls.mode is mutual (the
// forwarder's identity checked against capture.tls.sans), plain HTTP
// otherwise. Main thread only, except CaptureShipper::submit.
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/config/config.h"
#include "telemetry/capture/shipper.h"

namespace hawser {

struct TlsState;
namespace telemetry {
class MainMetrics;
}

class CapturePipeline {
 public:
  CapturePipeline(boost::asio::any_io_executor executor, telemetry::MainMetrics& metrics, unsigned workers);

  telemetry::CaptureShipper& shipper() { return *shipper_; }
  // A new snapshot or new certificate material; starts the shipper the
  // first time capture is on.
  void configure(const config::Config& cfg, std::shared_ptr<const TlsState> tls);
  bool started() const { return started_; }
  // Ships what is queued within `deadline`, then calls `done`.
  void shutdown(std::chrono::steady_clock::time_point deadline, std::function<void()> done);
  // hawser_capture_queue_bytes, before a scrape.
  void updateGauges();

 private:
  boost::asio::any_io_executor executor_;
  telemetry::MainMetrics& metrics_;
  std::unique_ptr<telemetry::CaptureShipper> shipper_;
  std::shared_ptr<const TlsState> tls_;  // mutual TLS to the forwarder; null: plain HTTP
  std::vector<std::string> sans_;
  bool started_ = false;
};

}  // namespace hawser
