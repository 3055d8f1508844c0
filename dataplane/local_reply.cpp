#include "dataplane/local_reply.h"

#include <array>

namespace hawser {

namespace {
constexpr std::array<LocalReplyInfo, kLocalReplyCount> kTable{{
    /* bad_request */ {400, "bad-request", "bad_request", true, true},
    /* header_too_large */ {431, "header-too-large", "header_too_large", true, true},
    /* too_many_headers */ {431, "too-many-headers", "too_many_headers", true, true},
    /* header_timeout */ {408, "header-timeout", "header_timeout", true, true},
    /* body_too_large */ {413, "body-too-large", "body_too_large", true, true},
    /* not_found */ {404, "no-route", "", false, false},
    /* no_healthy_upstream */ {503, "no-healthy-upstream", "", false, false},
    /* upstream_connect_failure */ {503, "upstream-connect-failure", "", false, false},
    /* upstream_timeout */ {504, "upstream-timeout", "", false, false},
    /* upstream_reset */ {502, "upstream-reset", "", false, false},
    /* bad_gateway */ {502, "bad-gateway", "", false, false},  // a response hawser refuses to relay,
    /* unauthorized */ {403, "unauthorized", "", false, false},
    /* overflow */ {503, "overflow", "", false, false},
    /* rate_limited */ {429, "rate-limited", "", false, false},
}};
}  // namespace

const LocalReplyInfo& info(LocalReply r) {
  const auto i = static_cast<size_t>(r);
  return kTable[i < kTable.size() ? i : static_cast<size_t>(LocalReply::bad_gateway)];
}

}  // namespace hawser
