#include "dataplane/http_headers.h"

#include <boost/beast/http/field.hpp>

#include <cstdio>
#include <random>
#include <vector>

namespace hawser {
namespace http = boost::beast::http;

namespace {
// Splits a comma-separated token list, trimming optional white space.
template <class Fn>
void forEachToken(std::string_view list, Fn fn) {
  while (!list.empty()) {
    auto comma = list.find(',');
    auto token = list.substr(0, comma);
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
    if (!token.empty()) fn(token);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}
}  // namespace

void removeHopByHop(http::fields& f, bool keep_upgrade) {
  // Fields named by Connection go too (RFC 9110 7.6.1); usually there are none.
  std::vector<std::string> named;
  for (auto it = f.find(http::field::connection); it != f.end() && it->name() == http::field::connection; ++it) {
    forEachToken(it->value(), [&](std::string_view t) {
      if (keep_upgrade && iequals(t, "upgrade")) return;
      if (iequals(t, "transfer-encoding") || iequals(t, "content-length")) return;  // framing is ours
      named.emplace_back(t);
    });
  }
  for (const auto& n : named) f.erase(n);
  // The fixed list in one pass over the (few) fields rather than a lookup each.
  for (auto it = f.begin(); it != f.end();) {
    switch (it->name()) {
      case http::field::connection:
      case http::field::keep_alive:
      case http::field::proxy_connection:
      case http::field::proxy_authorization:
      case http::field::proxy_authenticate:
      case http::field::te: it = f.erase(it); break;
      case http::field::upgrade: it = keep_upgrade ? std::next(it) : f.erase(it); break;
      default: ++it;
    }
  }
}

bool isUpgradeRequest(const http::fields& f) {
  if (f.find(http::field::upgrade) == f.end()) return false;
  bool upgrade = false;
  for (auto it = f.find(http::field::connection); it != f.end() && it->name() == http::field::connection; ++it) {
    forEachToken(it->value(), [&](std::string_view t) { upgrade |= iequals(t, "upgrade"); });
  }
  return upgrade;
}

std::string applyForwardingHeaders(http::fields& f, std::string_view client_ip, std::string_view proto) {
  if (auto it = f.find("x-forwarded-for"); it != f.end()) {
    std::string v(it->value());
    v.append(", ").append(client_ip);
    f.set("x-forwarded-for", v);
  } else {
    f.set("x-forwarded-for", client_ip);
  }
  if (f.find("x-forwarded-proto") == f.end()) f.set("x-forwarded-proto", proto);
  if (auto it = f.find(http::field::via); it != f.end()) {
    std::string v(it->value());
    v.append(", 1.1 hawser");
    f.set(http::field::via, v);
  } else {
    f.set(http::field::via, "1.1 hawser");
  }
  auto id = f.find("x-request-id");
  if (id != f.end() && !id->value().empty()) return std::string(id->value());
  auto fresh = newRequestId();
  f.set("x-request-id", fresh);
  return fresh;
}

namespace {
void appendFields(const http::fields& f, std::string& out, bool terminate) {
  for (const auto& field : f) {
    out.append(field.name_string()).append(": ").append(field.value()).append("\r\n");
  }
  if (terminate) out.append("\r\n");
}

std::string_view versionString(unsigned v) {
  return v == 10 ? "HTTP/1.0" : "HTTP/1.1";
}
}  // namespace

void serializeHead(const http::request_header<>& h, std::string& out, bool terminate) {
  out.clear();
  out.append(h.method_string()).append(" ").append(h.target()).append(" ").append(versionString(h.version()));
  out.append("\r\n");
  appendFields(h, out, terminate);
}

void serializeHead(const http::response_header<>& h, std::string& out, bool terminate) {
  out.clear();
  char code[4] = {static_cast<char>('0' + h.result_int() / 100 % 10), static_cast<char>('0' + h.result_int() / 10 % 10),
                  static_cast<char>('0' + h.result_int() % 10), 0};
  std::string_view reason = h.reason();
  // Beast names no status it does not know (103, say): send none rather than
  // its "<unknown-status>" (RFC 9112 §4 allows an empty reason phrase).
  if (reason.empty()) reason = http::obsolete_reason(h.result());
  if (reason == "<unknown-status>") reason = {};
  out.append(versionString(h.version())).append(" ").append(code, 3).append(" ").append(reason).append("\r\n");
  appendFields(h, out, terminate);
}

std::string newRequestId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t a = rng(), b = rng();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
  // 8-4-4-4-12 hex digits: a's 16 digits, a dash after 8 and 12; b's after 4.
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(36, '-');
  size_t pos = 0;
  for (int i = 15; i >= 0; --i) {
    if (pos == 8 || pos == 13 || pos == 18) ++pos;
    id[pos++] = kHex[(a >> (i * 4)) & 0xf];
  }
  for (int i = 15; i >= 0; --i) {
    if (pos == 18 || pos == 23) ++pos;
    id[pos++] = kHex[(b >> (i * 4)) & 0xf];
  }
  return id;
}

}  // namespace hawser
