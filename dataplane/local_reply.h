// The one table that maps every reason hawser answers a request itself to
// the status the client gets and the x-hawser-reason it carries.
#pragma once

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

struct LocalReplyInfo {
  unsigned status;
  std::string_view reason;        // x-hawser-reason
  std::string_view metric_label;  // hawser_malformed_requests_total{reason} when malformed
  bool malformed;                 // counts as a malformed client request
};

const LocalReplyInfo& info(LocalReply r);

}  // namespace hawser
