// A minimal HTTP/1.1 client for discovery's control-plane calls (Cloud Map,
// container credentials): one request per connection, plain TCP or TLS
// (OpenSSL via Asio, peer and host name verified against the system CAs), a
// deadline over the whole exchange. Injected as a function so the pollers are
// tested with a fake transport.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>

#include "discovery/aws/sigv4.h"

namespace hawser::discovery::cloudmap {

struct HttpRequest {
  std::string method = "POST";
  std::string url;          // http://host:port/path or https://...
  aws::HeaderList headers;  // Host is added when absent
  std::string body;
  std::chrono::milliseconds timeout{5000};
  // A longer response body is a transport error ("read: body limit exceeded").
  std::uint64_t max_response_bytes = 8 * 1024 * 1024;
  // https with a context of the caller's (e.g. mutual TLS with this task's
  // certificate) instead of the system CAs and host-name verification;
  // `check_peer` then decides on the verified peer (its problem, "" if
  // acceptable).
  std::shared_ptr<boost::asio::ssl::context> tls;
  std::function<std::string(SSL*)> check_peer;
};

struct HttpResponse {
  std::string error;  // transport failure (resolve, connect, TLS, timeout); empty when a response arrived
  unsigned status = 0;
  aws::HeaderList headers;
  std::string body;

  // First value of a header (case-insensitive name), empty when absent.
  std::string header(std::string_view name) const;
};

using HttpTransport = std::function<boost::asio::awaitable<HttpResponse>(HttpRequest)>;

// The real transport. Keeps one TLS context for every https request.
HttpTransport makeHttpTransport(boost::asio::any_io_executor executor);

}  // namespace hawser::discovery::cloudmap
