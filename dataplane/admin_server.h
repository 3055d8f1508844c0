// The admin HTTP server (loopback by default), on the main io_context.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <array>
#include <iterator>
#include <memory>

#include "dataplane/admin_guard.h"

namespace prometheus {
class Counter;
}

namespace hawser {

class Server;

class AdminServer {
 public:
  AdminServer(boost::asio::io_context& ctx, Server& server);
  // Binds; throws std::runtime_error naming the address on failure.
  void listen(const boost::asio::ip::tcp::endpoint& ep);
  boost::asio::ip::tcp::endpoint endpoint() const;
  void stop();

 private:
  boost::asio::io_context& ctx_;
  Server& server_;
  std::shared_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::array<prometheus::Counter*, std::size(kAdminRefusalReasons)>
      refused_{};  // hawser_admin_refused_total, by kAdminRefusalReasons
};

}  // namespace hawser
