// The admin HTTP server (loopback by default), on the main io_context. What
// it serves comes from an AdminSite: the proxy's endpoints (Server, in
// proxy_admin.cpp) or the forwarder's. The cross-site guard (admin_guard.h)
// runs before any of them.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <array>
#include <iterator>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "dataplane/admin_guard.h"

namespace prometheus {
class Counter;
template <typename T>
class Family;
}  // namespace prometheus

namespace hawser {
namespace telemetry {
struct ServingErrors;
}

struct AdminResponse {
  unsigned status = 200;
  std::string content_type = "text/plain";
  std::string body;
};

class AdminSite {
 public:
  virtual ~AdminSite() = default;
  // `method` is GET, HEAD or POST (others are answered 405 by the server);
  // nullopt: no such path (404, naming adminEndpoints()).
  virtual std::optional<AdminResponse> serveAdmin(std::string_view method, std::string_view path) = 0;
  virtual std::string adminEndpoints() const = 0;
  // admin.address's host and admin.allowed_hosts, for the Host check.
  virtual std::string_view adminHost() const = 0;
  virtual std::span<const std::string> adminAllowedHosts() const = 0;
};

class AdminServer {
 public:
  // `refused` is hawser_admin_refused_total{reason}; `errors` counts failed accepts and sessions.
  AdminServer(boost::asio::io_context& ctx, AdminSite& site, prometheus::Family<prometheus::Counter>& refused,
              telemetry::ServingErrors& errors);
  // Binds; throws std::runtime_error naming the address on failure.
  void listen(const boost::asio::ip::tcp::endpoint& ep);
  boost::asio::ip::tcp::endpoint endpoint() const;
  void stop();

 private:
  boost::asio::io_context& ctx_;
  AdminSite& site_;
  telemetry::ServingErrors& errors_;
  std::shared_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::array<prometheus::Counter*, std::size(kAdminRefusalReasons)>
      refused_{};  // hawser_admin_refused_total, by kAdminRefusalReasons
};

// 405 for a known path with the wrong method.
AdminResponse adminMethodNotAllowed();
// A JSON reply.
AdminResponse adminJson(std::string body, unsigned status = 200);

}  // namespace hawser
