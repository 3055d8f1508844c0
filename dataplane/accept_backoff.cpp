#include "dataplane/accept_backoff.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <prometheus/counter.h>

#include "dataplane/config/config.h"
#include "telemetry/log.h"

namespace hawser {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

asio::awaitable<std::optional<tcp::socket>> AcceptBackoff::accept(tcp::acceptor& acceptor) {
  constexpr auto tok = asio::as_tuple(asio::use_awaitable);
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(tok);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return std::nullopt;
    if (!ec) {
      succeeded();
      co_return std::optional<tcp::socket>(std::move(socket));
    }
    failed(ec);
    asio::steady_timer timer(acceptor.get_executor(), kRetryDelay);
    co_await timer.async_wait(tok);
  }
}

void AcceptBackoff::failed(const boost::system::error_code& ec) {
  errors_.Increment();
  if (failures_in_run_++ > 0) return;
  run_started_ = std::chrono::steady_clock::now();
  log::warn("accept failed; retrying every 100ms until it succeeds (logged once per episode)",
            {{"listener", listener_}, {"error", ec.message()}});
}

void AcceptBackoff::succeeded() {
  if (failures_in_run_ == 0) return;
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - run_started_);
  log::info("accepting again",
            {{"listener", listener_}, {"failed_accepts", failures_in_run_}, {"took", config::formatDuration(took)}});
  failures_in_run_ = 0;
}

}  // namespace hawser
