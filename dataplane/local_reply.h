// The one table that maps every reason hawser answers a request itself to
// the status the client gets, the x-hawser-reason it carries, and whether
// the connection closes after it.
#pragma once

#include <cstddef>
#include <string_view>

namespace hawser {

enum class LocalReply {
  bad_request,
  header_too_large,
  too_many_headers,
  header_timeout,
  body_too_large,
  not_found,
  no_healthy_upstream,
  upstream_connect_failure,
  upstream_timeout,
  upstream_reset,
  bad_gateway,
  unauthorized,
  overflow,
  rate_limited,
};
inline constexpr size_t kLocalReplyCount = static_cast<size_t>(LocalReply::rate_limited) + 1;

struct LocalReplyInfo {
  unsigned status;
  std::string_view reason;        // x-hawser-reason
  std::string_view metric_label;  // hawser_malformed_requests_total{reason} when malformed
  bool malformed;                 // counts as a malformed client request
  // The connection closes after this reply: the request's framing or head
  // cannot be trusted, so nothing after it on the connection can either.
  bool closes;
};

const LocalReplyInfo& info(LocalReply r);

}  // namespace hawser
