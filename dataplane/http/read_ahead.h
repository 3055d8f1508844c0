#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <chrono>
#include <memory>

#include "dataplane/any_stream.h"

namespace hawser::http1 {

// What a read of the next request asks for (an idle connection keeps a
// buffer this large while it waits).
inline constexpr size_t kIdleRead = 4096;

// The client's next read, started while an exchange waits for its upstream:
// it is both the watch that notices a client that went away (EOF or an
// error: the exchange is abandoned) and the read that waitForRequest would
// have started for the next request, so the watch costs no system call of
// its own. Bytes it brings (a pipelined request) stay in the connection's
// buffer. At most one read is outstanding; the connection awaits stop()
// before it goes away, so the read never outlives the stream or buffer.
class ReadAhead {
 public:
  explicit ReadAhead(boost::asio::any_io_executor ex) : ex_(std::move(ex)) {}

  // Starts the read into `buf` (which must be empty, and is not touched by
  // anyone else until the read is taken).
  void start(AnyStream& s, boost::beast::flat_buffer& buf);
  bool started() const { return state_ && state_->started; }  // pending, or finished and not yet taken
  bool pending() const { return started() && !state_->finished; }
  // The read ended in EOF or an error: the client is gone.
  bool gone() const { return started() && state_->finished && state_->ec; }
  // While set, a client that goes away cancels this socket's pending
  // operations (the upstream read the exchange waits on).
  void cancelOnGone(boost::asio::ip::tcp::socket* s) {
    if (state_) state_->cancel_on_gone = s;
  }

  // Waits until the pending read finishes, or until `until`.
  boost::asio::awaitable<void> wait(std::chrono::steady_clock::time_point until);
  // Takes the finished read (its bytes are in the buffer) and returns its
  // error; timed_out while it is still pending (stop() then cancels it).
  boost::system::error_code take();
  // Cancels a pending read and waits for it to end.
  boost::asio::awaitable<void> stop(AnyStream& s);

 private:
  struct State {
    explicit State(boost::asio::any_io_executor ex) : wake(ex) {}
    boost::asio::steady_timer wake;  // cancelled when the read finishes
    bool started = false;
    bool finished = false;
    boost::system::error_code ec;
    boost::asio::ip::tcp::socket* cancel_on_gone = nullptr;
  };
  boost::asio::any_io_executor ex_;
  // Made on the first start(), so a connection that never waits upstream
  // (an idle one) holds none.
  std::shared_ptr<State> state_;
};

}  // namespace hawser::http1
