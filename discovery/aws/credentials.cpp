#include "discovery/aws/credentials.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <cstdio>
#include <ostream>

namespace hawser::discovery::aws {
namespace {

std::string maskAccessKey(std::string_view key) {
  if (key.empty()) return "<none>";
  if (key.size() <= 8) return "****";
  return std::string(key.substr(0, 4)) + "****" + std::string(key.substr(key.size() - 4));
}

std::optional<std::string> nonEmpty(const EnvLookup& env, std::string_view name) {
  if (!env) return std::nullopt;
  auto v = env(name);
  if (!v || v->empty()) return std::nullopt;
  return v;
}

bool isAllowedHttpHost(const boost::urls::url_view& u) {
  using boost::urls::host_type;
  switch (u.host_type()) {
    case host_type::ipv4: {
      auto a = u.host_ipv4_address();
      return a.is_loopback() || a.to_string() == "169.254.170.2" || a.to_string() == "169.254.170.23";
    }
    case host_type::ipv6: {
      auto a = u.host_ipv6_address();
      return a.is_loopback() || a.to_string() == "fd00:ec2::23";
    }
    case host_type::name: {
      std::string h = u.host();
      std::transform(h.begin(), h.end(), h.begin(), [](unsigned char c) { return std::tolower(c); });
      return h == "localhost";
    }
    default: return false;
  }
}

}  // namespace

Clock::time_point Credentials::refreshAt() const {
  if (!expiration) return Clock::time_point::max();
  Clock::duration window = kRefreshBeforeExpiry;
  if (obtained_at && *expiration > *obtained_at) {
    // Multiplied only when short, so a far expiration cannot overflow.
    Clock::duration lifetime = *expiration - *obtained_at;
    if (lifetime < window * 100 / kRefreshLifetimePercent) window = lifetime * kRefreshLifetimePercent / 100;
  }
  return *expiration - window;
}

bool Credentials::needsRefresh(Clock::time_point now) const {
  return expiration.has_value() && now >= refreshAt();
}

bool Credentials::expired(Clock::time_point now) const {
  return expiration.has_value() && now >= *expiration;
}

std::string describe(const Credentials& c) {
  std::string out = "Credentials{access_key=" + maskAccessKey(c.access_key);
  out += ", secret=";
  out += c.secret_key.empty() ? "<none>" : "<redacted>";
  out += ", session_token=";
  out += c.session_token.empty() ? "<none>" : "<redacted>";
  out += ", expiration=";
  out += c.expiration ? formatIso8601(*c.expiration) : "never";
  out += "}";
  return out;
}

std::ostream& operator<<(std::ostream& os, const Credentials& c) {
  return os << describe(c);
}

std::string describe(const ContainerCredentialsEndpoint& e) {
  return "ContainerCredentialsEndpoint{url=" + e.url +
         ", authorization=" + (e.authorization ? "<redacted>" : "<none>") + "}";
}

std::ostream& operator<<(std::ostream& os, const ContainerCredentialsEndpoint& e) {
  return os << describe(e);
}

std::string_view toString(CredentialsError::Kind kind) {
  switch (kind) {
    case CredentialsError::Kind::not_json: return "not_json";
    case CredentialsError::Kind::wrong_type: return "wrong_type";
    case CredentialsError::Kind::missing_field: return "missing_field";
    case CredentialsError::Kind::bad_expiration: return "bad_expiration";
    case CredentialsError::Kind::bad_uri: return "bad_uri";
    case CredentialsError::Kind::token_file: return "token_file";
    case CredentialsError::Kind::bad_token: return "bad_token";
  }
  return "unknown";
}

std::optional<Credentials> credentialsFromEnvironment(const EnvLookup& env) {
  auto id = nonEmpty(env, "AWS_ACCESS_KEY_ID");
  auto secret = nonEmpty(env, "AWS_SECRET_ACCESS_KEY");
  if (!id || !secret) return std::nullopt;
  Credentials c;
  c.access_key = *id;
  c.secret_key = *secret;
  if (auto token = nonEmpty(env, "AWS_SESSION_TOKEN")) c.session_token = *token;
  return c;
}

ContainerEndpointResult containerCredentialsEndpoint(const EnvLookup& env, const FileReader& read) {
  ContainerCredentialsEndpoint out;
  if (auto rel = nonEmpty(env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) {
    out.url = std::string(kEcsCredentialsHost) + (rel->starts_with('/') ? "" : "/") + *rel;
  } else if (auto full = nonEmpty(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
    auto parsed = boost::urls::parse_absolute_uri(*full);
    if (!parsed) {
      return CredentialsError{CredentialsError::Kind::bad_uri,
                              "AWS_CONTAINER_CREDENTIALS_FULL_URI is not an absolute URI"};
    }
    std::string scheme = parsed->scheme();
    std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return std::tolower(c); });
    if (scheme != "https" && !(scheme == "http" && isAllowedHttpHost(*parsed))) {
      return CredentialsError{CredentialsError::Kind::bad_uri,
                              "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http to a "
                              "loopback or ECS/EKS agent address"};
    }
    out.url = *full;
  } else {
    return std::monostate{};
  }

  std::optional<std::string> token;
  if (auto file = nonEmpty(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")) {
    token = read ? read(*file) : std::nullopt;
    if (!token) {
      return CredentialsError{CredentialsError::Kind::token_file,
                              "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE " + *file};
    }
    while (!token->empty() && (token->back() == '\n' || token->back() == '\r')) token->pop_back();
  } else if (auto t = nonEmpty(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
    token = *t;
  }
  if (token) {
    if (token->find_first_of("\r\n") != std::string::npos) {
      return CredentialsError{CredentialsError::Kind::bad_token, "container authorization token contains a line break"};
    }
    if (!token->empty()) out.authorization = std::move(*token);
  }
  return out;
}

std::variant<Credentials, CredentialsError> parseContainerCredentials(std::string_view body, Clock::time_point now) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (ec) return CredentialsError{CredentialsError::Kind::not_json, ec.message()};
  const auto* obj = v.if_object();
  if (!obj) return CredentialsError{CredentialsError::Kind::wrong_type, "response is not an object"};

  auto field = [&](std::string_view name, bool required, std::string& dest) -> std::optional<CredentialsError> {
    const auto* f = obj->if_contains(name);
    if (!f || f->is_null()) {
      if (!required) return std::nullopt;
      return CredentialsError{CredentialsError::Kind::missing_field, std::string(name) + " missing"};
    }
    const auto* s = f->if_string();
    if (!s) {
      return CredentialsError{CredentialsError::Kind::wrong_type, std::string(name) + " is not a string"};
    }
    if (required && s->empty()) {
      return CredentialsError{CredentialsError::Kind::missing_field, std::string(name) + " is empty"};
    }
    dest.assign(s->data(), s->size());
    return std::nullopt;
  };

  Credentials c;
  std::string expiration;
  if (auto e = field("AccessKeyId", true, c.access_key)) return *e;
  if (auto e = field("SecretAccessKey", true, c.secret_key)) return *e;
  if (auto e = field("Token", false, c.session_token)) return *e;
  if (auto e = field("Expiration", false, expiration)) return *e;
  if (!expiration.empty()) {
    c.expiration = parseIso8601(expiration);
    if (!c.expiration) {
      return CredentialsError{CredentialsError::Kind::bad_expiration, "Expiration is not ISO 8601: " + expiration};
    }
  }
  c.obtained_at = now;
  return c;
}

std::optional<Clock::time_point> parseIso8601(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)
  auto num = [&](size_t pos, size_t len) -> int {
    if (pos + len > s.size()) return -1;
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return -1;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':') {
    return std::nullopt;
  }
  int y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2), se = num(17, 2);
  if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || se < 0 || h > 23 || mi > 59 || se > 60) {
    return std::nullopt;
  }
  std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(mo)},
                                  std::chrono::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  size_t pos = 19;
  std::chrono::nanoseconds frac{0};
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t digits = 0;
    long long scale = 100000000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 9) {
        frac += std::chrono::nanoseconds{(s[pos] - '0') * scale};
        scale /= 10;
      }
      ++digits;
      ++pos;
    }
    if (digits == 0) return std::nullopt;
  }
  std::chrono::minutes offset{0};
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos + 6 == s.size() && (s[pos] == '+' || s[pos] == '-') && s[pos + 3] == ':') {
    int oh = num(pos + 1, 2), om = num(pos + 4, 2);
    if (oh < 0 || om < 0 || oh > 23 || om > 59) return std::nullopt;
    offset = std::chrono::minutes{oh * 60 + om};
    if (s[pos] == '-') offset = -offset;
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  auto t =
      std::chrono::sys_days{ymd} + std::chrono::hours{h} + std::chrono::minutes{mi} + std::chrono::seconds{se} - offset;
  // Clock counts nanoseconds in 64 bits (years 1677 to 2262): a time outside
  // that, less a day of margin for the callers' arithmetic, is not one.
  constexpr auto kDay = std::chrono::hours(24);
  constexpr auto kEarliest = std::chrono::ceil<std::chrono::seconds>(Clock::time_point::min()) + kDay;
  constexpr auto kLatest = std::chrono::floor<std::chrono::seconds>(Clock::time_point::max()) - kDay;
  if (t < kEarliest || t > kLatest) return std::nullopt;
  return std::chrono::time_point_cast<Clock::duration>(t) + std::chrono::duration_cast<Clock::duration>(frac);
}

std::string formatIso8601(Clock::time_point t) {
  auto days = std::chrono::floor<std::chrono::days>(t);
  std::chrono::year_month_day ymd{days};
  std::chrono::hh_mm_ss hms{std::chrono::floor<std::chrono::seconds>(t - days)};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

}  // namespace hawser::discovery::aws
