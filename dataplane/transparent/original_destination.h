// The address a connection redirected by iptables REDIRECT was made to.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <optional>

namespace hawser::transparent {

// SO_ORIGINAL_DST (IPv4, also for IPv4 on a dual-stack socket) or
// IP6T_SO_ORIGINAL_DST (IPv6), from the connection's conntrack entry. For a
// connection nothing redirected this is its own local address; nullopt (with
// `ec` set) when the kernel knows none (no conntrack entry, not a TCP socket).
std::optional<boost::asio::ip::tcp::endpoint> originalDestination(boost::asio::ip::tcp::socket& s,
                                                                  boost::system::error_code& ec);

}  // namespace hawser::transparent
