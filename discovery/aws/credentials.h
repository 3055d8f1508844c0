// The pure parts of the AWS credential chain: reading the environment (through
// an injected lookup, never getenv), the ECS container-credentials endpoint and
// its response, and when to refresh. Fetching over HTTP lives elsewhere.
#pragma once

#include <chrono>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace hawser::discovery::aws {

using Clock = std::chrono::system_clock;

struct Credentials {
  std::string access_key;
  std::string secret_key;     // never logged: use describe()
  std::string session_token;  // empty when none; never logged
  // nullopt: static credentials (environment), never refreshed.
  std::optional<Clock::time_point> expiration;
  // When these were obtained; with `expiration` it gives the lifetime used
  // by needsRefresh.
  std::optional<Clock::time_point> obtained_at;

  // Refresh window: 5 minutes before expiration (what the AWS SDKs use), but
  // never more than 15% of the lifetime when it is known, so short-lived
  // credentials (a 60 s test token) are not refreshed continuously.
  Clock::time_point refreshAt() const;
  bool needsRefresh(Clock::time_point now) const;
  bool expired(Clock::time_point now) const;
};

inline constexpr std::chrono::minutes kRefreshBeforeExpiry{5};
inline constexpr int kRefreshLifetimePercent = 15;

// Redacted, one line: the access key id with its middle masked, and only
// whether a secret / token is present. Safe for logs.
std::string describe(const Credentials& c);
// Also redacted, so test frameworks and log streams never print secrets.
std::ostream& operator<<(std::ostream& os, const Credentials& c);

struct CredentialsError {
  enum class Kind {
    not_json,
    wrong_type,
    missing_field,
    bad_expiration,
    bad_uri,     // container credentials URI not allowed or unparsable
    token_file,  // authorization token file unreadable
    bad_token,   // authorization token contains CR/LF
  };
  Kind kind;
  std::string detail;  // never holds a secret
};
std::string_view toString(CredentialsError::Kind kind);

// Returns the value of an environment variable, nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
// Returns a file's contents, nullopt when it cannot be read.
using FileReader = std::function<std::optional<std::string>(std::string_view path)>;

// AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (both non-empty) and optional
// AWS_SESSION_TOKEN; nullopt when not configured.
std::optional<Credentials> credentialsFromEnvironment(const EnvLookup& env);

inline constexpr std::string_view kEcsCredentialsHost = "http://169.254.170.2";

struct ContainerCredentialsEndpoint {
  std::string url;
  std::optional<std::string> authorization;  // Authorization header value; never logged
};
std::string describe(const ContainerCredentialsEndpoint& e);
std::ostream& operator<<(std::ostream& os, const ContainerCredentialsEndpoint& e);

// monostate: neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor _FULL_URI set.
using ContainerEndpointResult = std::variant<std::monostate, ContainerCredentialsEndpoint, CredentialsError>;

// RELATIVE_URI wins (appended to http://169.254.170.2). A FULL_URI must be
// https, or http to a loopback address or the ECS/EKS agent addresses
// (169.254.170.2, 169.254.170.23, fd00:ec2::23), as in the AWS SDKs, so the
// authorization token never travels in clear to somewhere else.
// Authorization: AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read with `read`,
// trailing newline stripped) wins over AWS_CONTAINER_AUTHORIZATION_TOKEN.
ContainerEndpointResult containerCredentialsEndpoint(const EnvLookup& env, const FileReader& read);

// Parses {"AccessKeyId","SecretAccessKey","Token","Expiration"} as served by
// the ECS agent / EKS pod identity agent. `now` is when the response arrived.
std::variant<Credentials, CredentialsError> parseContainerCredentials(std::string_view body, Clock::time_point now);

// ISO 8601 / RFC 3339 UTC: "2015-08-30T12:36:00Z", fractions and +hh:mm offsets accepted.
std::optional<Clock::time_point> parseIso8601(std::string_view s);
std::string formatIso8601(Clock::time_point t);  // "2015-08-30T12:36:00Z"

}  // namespace hawser::discovery::aws
