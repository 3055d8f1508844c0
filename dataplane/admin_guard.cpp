#include "dataplane/admin_guard.h"

#include <algorithm>
#include <cctype>

namespace hawser {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool allDigits(std::string_view s) {
  return !s.empty() && s.size() <= 5 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool ipv6Chars(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
  });
}

// A DNS name or an IPv4 address: labels of letters, digits, '-' and '_'.
bool dnsName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  for (;;) {
    auto dot = s.find('.', start);
    auto label = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

struct HostParts {
  std::string_view name;
  bool has_port = false;
};

std::optional<HostParts> splitHost(std::string_view field) {
  if (field.empty()) return std::nullopt;
  if (field.front() == '[') {
    auto close = field.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    auto name = field.substr(1, close - 1);
    auto rest = field.substr(close + 1);
    if (!ipv6Chars(name)) return std::nullopt;
    if (rest.empty()) return HostParts{name, false};
    if (rest.front() != ':' || !allDigits(rest.substr(1))) return std::nullopt;
    return HostParts{name, true};
  }
  auto colon = field.find(':');
  if (colon == std::string_view::npos) return dnsName(field) ? std::optional(HostParts{field, false}) : std::nullopt;
  auto name = field.substr(0, colon);
  if (!dnsName(name) || !allDigits(field.substr(colon + 1))) return std::nullopt;
  return HostParts{name, true};
}

AdminRefusal refuse(unsigned status, std::string_view reason, std::string message) {
  return AdminRefusal{status, reason, "forbidden: " + std::move(message) + "\n"};
}

}  // namespace

std::optional<std::string> adminHostName(std::string_view host_field) {
  auto parts = splitHost(host_field);
  if (!parts) return std::nullopt;
  return lower(parts->name);
}

std::string allowedHostProblem(std::string_view entry) {
  if (entry.empty()) return "must not be empty";
  if (entry.find('*') != std::string_view::npos) return "wildcards are not supported; list each name";
  auto parts = splitHost(entry);
  if (!parts) return "invalid host \"" + std::string(entry) + "\" (expected a host name or an IP address)";
  if (parts->has_port) return "\"" + std::string(entry) + "\" has a port; a name is allowed on any port";
  return "";
}

std::optional<AdminRefusal> checkAdminRequest(const AdminRequestFacts& req, std::string_view configured_host,
                                              std::span<const std::string> allowed_hosts) {
  // Browsers always send Host; only an HTTP/1.0 client may leave it out.
  if (req.hosts.empty() && !req.http10) {
    return refuse(400, "missing-host", "an HTTP/1.1 request needs a Host header");
  }
  if (req.hosts.size() > 1) return refuse(400, "host", "more than one Host header");
  if (!req.hosts.empty()) {
    auto name = adminHostName(req.hosts.front());
    if (!name) return refuse(400, "host", "malformed Host header");
    const bool allowed = *name == "localhost" || *name == "127.0.0.1" || *name == "::1" || *name == req.local_ip ||
                         *name == lower(configured_host) ||
                         std::find(allowed_hosts.begin(), allowed_hosts.end(), *name) != allowed_hosts.end();
    if (!allowed) {
      return refuse(403, "host",
                    "Host \"" + std::string(req.hosts.front()) +
                        "\" is not this admin server (use localhost, 127.0.0.1, [::1] or the address it listens "
                        "on, or list the name in admin.allowed_hosts)");
    }
  }
  if (req.has_origin) return refuse(403, "origin", "requests sent by web pages (with an Origin header) are refused");
  if (req.sec_fetch_site == "cross-site" || req.sec_fetch_site == "same-site") {
    return refuse(403, "cross-site", "cross-site requests (Sec-Fetch-Site: " + std::string(req.sec_fetch_site) + ")");
  }
  if (req.post && !req.has_post_header) {
    return refuse(403, "post-header",
                  "POST needs an X-Hawser-Admin header, e.g. curl -X POST -H 'X-Hawser-Admin: 1' ...");
  }
  return std::nullopt;
}

}  // namespace hawser
