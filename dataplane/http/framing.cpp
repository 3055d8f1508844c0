#include "dataplane/http/framing.h"

#include <boost/beast/http/field.hpp>

namespace hawser::http1 {
namespace http = boost::beast::http;

namespace {

bool isOws(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && isOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && isOws(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

bool iequalsAscii(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

namespace {

// Every Transfer-Encoding line of a message, read as one list (RFC 9110
// §5.3), must say exactly "chunked": hawser decodes no other coding, and a
// coding after chunked, an empty element, or chunked twice leaves two hops
// free to disagree on where the body ends.
bool transferEncodingIsChunked(const http::fields& f, bool& present) {
  present = false;
  int chunked = 0;
  for (const auto& field : f) {
    if (field.name() != http::field::transfer_encoding) continue;
    present = true;
    std::string_view list = field.value();
    for (;;) {
      auto comma = list.find(',');
      auto token = trim(list.substr(0, comma));
      if (!iequalsAscii(token, "chunked")) return false;
      ++chunked;
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  return !present || chunked == 1;
}

// The common rules for a message that may carry a body.
FramingDecision bodyFraming(const http::fields& f, bool allow_until_close, unsigned version) {
  FramingDecision d;
  bool te = false;
  if (!transferEncodingIsChunked(f, te)) {
    d.error = "bad-transfer-encoding";
    return d;
  }
  bool cl = false;
  uint64_t length = 0;
  for (const auto& field : f) {
    if (field.name() != http::field::content_length) continue;
    uint64_t v = 0;
    if (!parseContentLength(field.value(), v) || (cl && v != length)) {
      d.error = "bad-content-length";
      return d;
    }
    cl = true;
    length = v;
  }
  if (te && cl) {
    d.error = "content-length-with-transfer-encoding";
    return d;
  }
  if (te && version < 11) {  // RFC 9112 §6.1: a 1.0 message with TE is faulty
    d.error = "transfer-encoding-in-http-1.0";
    return d;
  }
  if (te) {
    d.framing.kind = BodyKind::chunked;
  } else if (cl) {
    d.framing.kind = length ? BodyKind::length : BodyKind::none;
    d.framing.length = length;
    d.framing.declared_length = true;
    d.framing.declared = length;
  } else {
    d.framing.kind = allow_until_close ? BodyKind::until_close : BodyKind::none;
  }
  return d;
}

}  // namespace

bool parseContentLength(std::string_view value, uint64_t& out) {
  bool any = false;
  uint64_t first = 0;
  for (;;) {
    auto comma = value.find(',');
    auto token = trim(value.substr(0, comma));
    if (token.empty() || token.size() > 18) return false;  // 18 digits cannot overflow
    uint64_t v = 0;
    for (char c : token) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    if (any && v != first) return false;
    any = true;
    first = v;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  out = first;
  return true;
}

FramingDecision requestFraming(const http::fields& f, unsigned version) {
  return bodyFraming(f, /*allow_until_close=*/false, version);
}

FramingDecision responseFraming(const http::fields& f, unsigned status, bool request_method_head) {
  // The framing lines of a bodiless response must still be well formed: a
  // proxy that lets a malformed one through hands the next hop the choice.
  auto d = bodyFraming(f, /*allow_until_close=*/true, 11);
  if (!d.ok()) return d;
  const bool bodiless = request_method_head || status < 200 || status == 204 || status == 304;
  if (!bodiless) return d;
  Framing none;
  // HEAD and 304 keep their Content-Length (it describes the representation);
  // 1xx and 204 must not carry one (RFC 9110 §8.6).
  if ((request_method_head || status == 304) && d.framing.declared_length) {
    none.declared_length = true;
    none.declared = d.framing.declared;
  }
  d.framing = none;
  return d;
}

void stripFraming(http::fields& f) {
  f.erase(http::field::transfer_encoding);
  f.erase(http::field::content_length);
}

void appendFramingHeader(const Framing& f, std::string& out) {
  switch (f.kind) {
    case BodyKind::chunked: out.append("Transfer-Encoding: chunked\r\n"); return;
    case BodyKind::length:
    case BodyKind::none:
      if (f.kind == BodyKind::length || f.declared_length) {
        const uint64_t n = f.kind == BodyKind::length ? f.length : f.declared;
        char digits[24];
        int i = 24;
        uint64_t v = n;
        do {
          digits[--i] = static_cast<char>('0' + v % 10);
          v /= 10;
        } while (v);
        out.append("Content-Length: ").append(digits + i, static_cast<size_t>(24 - i)).append("\r\n");
      }
      return;
    case BodyKind::until_close: return;
  }
}

}  // namespace hawser::http1
