// co_spawn for sessions and loops whose failure must stay their own.
#pragma once

#include <boost/asio/co_spawn.hpp>

#include <exception>
#include <string>
#include <string_view>

namespace prometheus {
class Counter;
}

namespace hawser {

// Logs an exception that escaped a spawned coroutine and counts it in
// hawser_internal_errors_total. By then the coroutine's frame is gone, and
// with it the connection it owned: only that connection closes.
void reportEscapedException(std::string_view task, std::exception_ptr e, prometheus::Counter& internal_errors) noexcept;

// co_spawn with a completion that contains an exception instead of letting
// it end the process (as asio::detached would, by rethrowing from run()).
// `task` names what runs (e.g. the listener) for the log line.
template <class Executor, class Awaitable>
void spawnContained(Executor&& ex, Awaitable&& coroutine, std::string task, prometheus::Counter& internal_errors) {
  boost::asio::co_spawn(std::forward<Executor>(ex), std::forward<Awaitable>(coroutine),
                        [task = std::move(task), &internal_errors](std::exception_ptr e) {
                          if (e) reportEscapedException(task, e, internal_errors);
                        });
}

}  // namespace hawser
