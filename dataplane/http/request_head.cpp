#include "dataplane/http/request_head.h"

#include <boost/beast/http/field.hpp>

#include <algorithm>
#include <cctype>

namespace hawser::http1 {
namespace http = boost::beast::http;

// RFC 3986 authority as RFC 9110 §7.2 allows in Host: reg-name or IPv4
// (unreserved, pct-encoded, sub-delims), or an IP literal in brackets, and
// an optional port. No userinfo, no path, no white space.
bool validHost(std::string_view h) {
  if (h.empty()) return false;
  size_t i = 0;
  if (h[0] == '[') {
    auto close = h.find(']');
    if (close == std::string_view::npos || close < 2) return false;
    for (char c : h.substr(1, close - 1)) {
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')) return false;
    }
    i = close + 1;
  } else {
    for (; i < h.size() && h[i] != ':'; ++i) {
      const char c = h[i];
      const bool ok = std::isalnum(static_cast<unsigned char>(c)) ||
                      std::string_view("-._~%!$&'()*+,;=").find(c) != std::string_view::npos;
      if (!ok) return false;
    }
    if (i == 0) return false;
  }
  if (i == h.size()) return true;
  if (h[i] != ':') return false;
  auto port = h.substr(i + 1);
  if (port.size() > 5) return false;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::string_view absoluteAuthority(std::string_view target) {
  size_t scheme = 0;
  if (target.size() > 7 && iequalsAscii(target.substr(0, 7), "http://"))
    scheme = 7;
  else if (target.size() > 8 && iequalsAscii(target.substr(0, 8), "https://"))
    scheme = 8;
  else
    return {};
  auto rest = target.substr(scheme);
  return rest.substr(0, rest.find_first_of("/?#"));
}

HeadCheck checkRequestHead(const RequestHead& req, const config::Limits& limits) {
  HeadCheck out;
  auto refuse = [&](LocalReply r, std::string_view why) {
    out.reply = r;
    out.detail = why;
    return out;
  };
  // Beast enforces header_limit only while the head is incomplete; a whole
  // head arriving in one read is measured here.
  size_t count = 0, hosts = 0;
  size_t head_bytes = req.method_string().size() + req.target().size() + 12;
  std::string_view host;
  for (const auto& f : req) {
    ++count;
    head_bytes += f.name_string().size() + f.value().size() + 4;
    if (f.name() == http::field::host) {
      ++hosts;
      host = f.value();
    }
  }
  if (head_bytes > limits.max_header_bytes) return refuse(LocalReply::header_too_large, "header-bytes");
  if (count > limits.max_headers) return refuse(LocalReply::too_many_headers, "header-count");
  const unsigned version = req.version();
  if (version < 10 || version > 11) return refuse(LocalReply::bad_request, "version");

  // Host: exactly one, well formed (HTTP/1.0 may omit it); an absolute-form
  // target must name the same authority, or two hops could route one
  // request to different places.
  if (hosts > 1) return refuse(LocalReply::bad_request, "two-hosts");
  if (hosts == 0 && version == 11) return refuse(LocalReply::bad_request, "no-host");
  if (hosts == 1 && !validHost(host)) return refuse(LocalReply::bad_request, "bad-host");
  auto target = req.target();
  if (req.method() == http::verb::connect) {
    if (!validHost(target)) return refuse(LocalReply::bad_request, "bad-connect-target");
  } else if (auto abs = absoluteAuthority(target); !abs.empty()) {
    if (!validHost(abs) || (hosts == 1 && !iequalsAscii(abs, host))) {
      return refuse(LocalReply::bad_request, "target-host-mismatch");
    }
  } else if (!(target.starts_with("/") || (target == "*" && req.method() == http::verb::options))) {
    return refuse(LocalReply::bad_request, "bad-target");
  }

  auto framing = requestFraming(req, version);
  if (!framing.ok()) return refuse(LocalReply::bad_request, framing.error);
  out.framing = framing.framing;
  return out;
}

BodyLimits requestBodyLimits(const config::Limits& limits) {
  BodyLimits b;
  b.max_chunk_line = std::min<size_t>(4096, limits.max_header_bytes);
  b.max_trailer_bytes = limits.max_header_bytes;
  b.max_body_bytes = limits.max_request_body_bytes;
  return b;
}

}  // namespace hawser::http1
