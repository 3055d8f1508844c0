#pragma once

#include "dataplane/worker.h"

namespace hawser {

// Registers a downstream connection with its worker for its lifetime.
class ConnectionGuard {
 public:
  ConnectionGuard(Worker& w, boost::asio::ip::tcp::socket& s) : w_(w), it_(w.track(&s)) {}
  ~ConnectionGuard() { w_.untrack(it_); }
  ConnectionGuard(const ConnectionGuard&) = delete;
  ConnectionGuard& operator=(const ConnectionGuard&) = delete;
  void setIdle(bool idle) { it_->idle = idle; }
  // The socket object moved (wrapped in TLS).
  void rebind(boost::asio::ip::tcp::socket& s) { it_->socket = &s; }

 private:
  Worker& w_;
  std::list<ConnectionEntry>::iterator it_;
};

}  // namespace hawser
