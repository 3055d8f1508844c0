// The checks every request head passes before anything else looks at it:
// size and count limits, Host as RFC 9112 §3.2 requires, the request-target
// form, and the body's framing (framing.h). Pure: a parsed head in, a
// decision out, so it is unit-tested and fuzzed without sockets.
#pragma once

#include <optional>
#include <string_view>

#include "dataplane/config/config.h"
#include "dataplane/http/body_decoder.h"
#include "dataplane/http/exchange.h"
#include "dataplane/http/framing.h"
#include "dataplane/local_reply.h"

namespace hawser::http1 {

struct HeadCheck {
  std::optional<LocalReply> reply;  // refused: answer this and close
  std::string_view detail;          // which rule refused it
  Framing framing;                  // accepted: how its body is framed
};

HeadCheck checkRequestHead(const RequestHead& req, const config::Limits& limits);

// The bounds a body from a client is decoded under.
BodyLimits requestBodyLimits(const config::Limits& limits);

// RFC 3986 authority as Host may carry it (RFC 9110 §7.2).
bool validHost(std::string_view host);
// The authority of an absolute-form target ("http://host:port/path"), or "".
std::string_view absoluteAuthority(std::string_view target);

}  // namespace hawser::http1
