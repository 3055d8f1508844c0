#include "dataplane/local_reply.h"

namespace hawser {

const LocalReplyInfo& info(LocalReply r) {
  static const LocalReplyInfo table[] = {
      /* bad_request */ {400, "bad-request", "bad_request", true},
      /* header_too_large */ {431, "header-too-large", "header_too_large", true},
      /* too_many_headers */ {431, "too-many-headers", "too_many_headers", true},
      /* header_timeout */ {408, "header-timeout", "header_timeout", true},
      /* body_too_large */ {413, "body-too-large", "body_too_large", true},
      /* not_found */ {404, "no-route", "", false},
      /* no_healthy_upstream */ {503, "no-healthy-upstream", "", false},
      /* upstream_connect_failure */ {503, "upstream-connect-failure", "", false},
      /* upstream_timeout */ {504, "upstream-timeout", "", false},
      /* upstream_reset */ {502, "upstream-reset", "", false},
      /* bad_gateway */ {502, "bad-gateway", "", false},
      /* unauthorized */ {403, "unauthorized", "", false},
      /* overflow */ {503, "overflow", "", false},
      /* rate_limited */ {429, "rate-limited", "", false},
  };
  return table[static_cast<int>(r)];
}

}  // namespace hawser
