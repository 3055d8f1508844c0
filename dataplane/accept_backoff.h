// The accept step shared by every listener (workers' and admin's).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace prometheus {
class Counter;
}

namespace hawser {

// One listener's run of failed accepts. Out of descriptors (EMFILE, ENFILE) the
// pending connection stays queued and the acceptor stays readable, so retrying
// at once spins a core: wait kRetryDelay between tries instead. The first
// failure of a run is logged, and its end with how many accepts failed; every
// failure is counted.
class AcceptBackoff {
 public:
  static constexpr std::chrono::milliseconds kRetryDelay{100};

  AcceptBackoff(std::string listener, prometheus::Counter& errors) : listener_(std::move(listener)), errors_(errors) {}

  // The next connection, or nullopt once the acceptor is closed.
  boost::asio::awaitable<std::optional<boost::asio::ip::tcp::socket>> accept(boost::asio::ip::tcp::acceptor& acceptor);

 private:
  void failed(const boost::system::error_code& ec);
  void succeeded();

  std::string listener_;
  prometheus::Counter& errors_;
  uint64_t failures_in_run_ = 0;
  std::chrono::steady_clock::time_point run_started_;
};

}  // namespace hawser
