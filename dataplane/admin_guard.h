// Which admin requests a browser could have been tricked into sending, and
// are refused: cross-site requests (CSRF on POST /drain), DNS rebinding
// (a foreign Host reading /config_dump), POSTs a plain HTML form can make.
// Plain C++, no sockets: the admin server passes in what it read.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hawser {

// A POST must carry this header (any value): a cross-origin page can only
// send it after a CORS preflight, which the admin server never approves.
inline constexpr std::string_view kAdminPostHeader = "x-hawser-admin";

struct AdminRequestFacts {
  bool post = false;
  bool http10 = false;
  std::vector<std::string_view> hosts;  // every Host field (normally one)
  bool has_origin = false;
  std::string_view sec_fetch_site;  // empty when absent
  bool has_post_header = false;     // kAdminPostHeader present
  std::string_view local_ip;        // the address this connection reached, e.g. "127.0.0.1", "::1"
};

struct AdminRefusal {
  unsigned status;          // 403, or 400 for a malformed Host
  std::string_view reason;  // metric label: host, missing-host, origin, cross-site, post-header
  std::string message;      // plain-text body
};

// The reasons, in the order they are checked; each is a label of
// hawser_admin_refused_total.
inline constexpr std::string_view kAdminRefusalReasons[] = {"missing-host", "host", "origin", "cross-site",
                                                            "post-header"};

// nullopt: serve it. `configured_host` is admin.address's host; `allowed_hosts`
// is admin.allowed_hosts (lower case).
std::optional<AdminRefusal> checkAdminRequest(const AdminRequestFacts& req, std::string_view configured_host,
                                              std::span<const std::string> allowed_hosts);

// The host part of a Host value, lower case and without brackets or port;
// nullopt when it is malformed. "[::1]:9901" -> "::1", "LocalHost" -> "localhost".
std::optional<std::string> adminHostName(std::string_view host_field);

// Validates one admin.allowed_hosts entry; returns the problem, or "" when
// valid. Entries are host names or IP addresses, no port, no wildcard.
std::string allowedHostProblem(std::string_view entry);

}  // namespace hawser
