#include "dataplane/transparent/original_destination.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

// From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>, whose
// kernel headers clash with glibc's <netinet/in.h>; both are 80.
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

namespace hawser::transparent {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::optional<tcp::endpoint> originalDestination(tcp::socket& s, boost::system::error_code& ec) {
  auto local = s.local_endpoint(ec);
  if (ec) return std::nullopt;
  const int fd = s.native_handle();
  const bool v4 = local.address().is_v4() || local.address().to_v6().is_v4_mapped();
  if (v4) {
    sockaddr_in sa{};
    socklen_t len = sizeof(sa);
    if (::getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &sa, &len) != 0) {
      ec.assign(errno, boost::system::system_category());
      return std::nullopt;
    }
    return tcp::endpoint(asio::ip::address_v4(ntohl(sa.sin_addr.s_addr)), ntohs(sa.sin_port));
  }
  sockaddr_in6 sa{};
  socklen_t len = sizeof(sa);
  if (::getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &sa, &len) != 0) {
    ec.assign(errno, boost::system::system_category());
    return std::nullopt;
  }
  asio::ip::address_v6::bytes_type bytes;
  std::memcpy(bytes.data(), &sa.sin6_addr, bytes.size());
  return tcp::endpoint(asio::ip::address_v6(bytes, sa.sin6_scope_id), ntohs(sa.sin6_port));
}

}  // namespace hawser::transparent
