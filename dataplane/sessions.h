// The per-connection coroutines a worker runs for its listeners.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "dataplane/any_stream.h"

#include <chrono>
#include <string>

namespace hawser {

class Worker;

// HTTP/1.1 proxying for inbound, outbound alias and http_proxy listeners.
boost::asio::awaitable<void> serveHttp(Worker& w, boost::asio::ip::tcp::socket s, std::string listener_key);
// Byte proxying for `protocol: tcp` listeners.
boost::asio::awaitable<void> serveTcp(Worker& w, boost::asio::ip::tcp::socket s, std::string listener_key);
// Transparent listeners: routes a connection iptables redirected by its
// original destination (dataplane/transparent/transparent_session.cpp).
boost::asio::awaitable<void> serveTransparent(Worker& w, boost::asio::ip::tcp::socket s, std::string listener_key);

// Copies bytes both ways until both directions end or nothing moves in
// either direction for `idle`. Bytes already buffered from one side go first.
// Returns the bytes moved a->b and b->a.
boost::asio::awaitable<std::pair<uint64_t, uint64_t>> splice(AnyStream& a, AnyStream& b,
                                                             boost::beast::flat_buffer& from_a,
                                                             boost::beast::flat_buffer& from_b,
                                                             std::chrono::milliseconds idle);

}  // namespace hawser
