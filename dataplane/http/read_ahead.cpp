#include "dataplane/http/read_ahead.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace hawser::http1 {
namespace asio = boost::asio;
constexpr auto tok = asio::as_tuple(asio::use_awaitable);

void ReadAhead::start(AnyStream& s, boost::beast::flat_buffer& buf) {
  if (!state_) state_ = std::make_shared<State>(ex_);
  auto& st = *state_;
  st.started = true;
  st.finished = false;
  st.ec = {};
  s.expires_never();  // the exchange's own deadlines bound it; take() bounds the wait
  s.async_read_some(buf.prepare(kIdleRead), [state = state_, &buf](boost::system::error_code ec, size_t n) {
    state->finished = true;
    state->ec = ec;
    if (!ec) {
      buf.commit(n);
    } else if (state->cancel_on_gone && ec != asio::error::operation_aborted) {
      boost::system::error_code ignored;
      state->cancel_on_gone->cancel(ignored);
    }
    state->wake.cancel();
  });
}

asio::awaitable<void> ReadAhead::wait(std::chrono::steady_clock::time_point until) {
  if (!started()) co_return;
  auto& st = *state_;
  if (st.finished) co_return;
  st.wake.expires_at(until);
  co_await st.wake.async_wait(tok);  // the read's handler cancels it
}

boost::system::error_code ReadAhead::take() {
  if (!started()) return {};
  auto& st = *state_;
  if (!st.finished) return asio::error::timed_out;
  st.started = false;
  return st.ec;
}

asio::awaitable<void> ReadAhead::stop(AnyStream& s) {
  if (!started()) co_return;
  auto& st = *state_;
  if (!st.finished) {
    boost::system::error_code ignored;
    s.socket().cancel(ignored);
    while (!st.finished) {  // the handler runs once the cancelled read completes
      st.wake.expires_at(std::chrono::steady_clock::time_point::max());
      co_await st.wake.async_wait(tok);
    }
  }
  st.started = false;
}

}  // namespace hawser::http1
