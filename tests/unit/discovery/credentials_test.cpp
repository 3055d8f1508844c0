#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>
#include <variant>

#include "discovery/aws/credentials.h"

using namespace hawser::discovery::aws;
using namespace std::chrono_literals;

namespace {

constexpr const char* kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr const char* kToken = "IQoJb3JpZ2luX2VjEXAMPLETOKEN";

EnvLookup fakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

FileReader fakeFiles(std::map<std::string, std::string> files) {
  return [files = std::move(files)](std::string_view path) -> std::optional<std::string> {
    auto it = files.find(std::string(path));
    if (it == files.end()) return std::nullopt;
    return it->second;
  };
}

Clock::time_point at(const char* iso) {
  return *parseIso8601(iso);
}

// Environment ----------------------------------------------------------------

TEST(CredentialsFromEnvironment, KeysAndToken) {
  auto c = credentialsFromEnvironment(fakeEnv(
      {{"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"}, {"AWS_SECRET_ACCESS_KEY", kSecret}, {"AWS_SESSION_TOKEN", kToken}}));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->access_key, "AKIDEXAMPLE");
  EXPECT_EQ(c->secret_key, kSecret);
  EXPECT_EQ(c->session_token, kToken);
  EXPECT_FALSE(c->expiration);
  EXPECT_FALSE(c->needsRefresh(Clock::now()));
}

TEST(CredentialsFromEnvironment, TokenOptional) {
  auto c = credentialsFromEnvironment(fakeEnv({{"AWS_ACCESS_KEY_ID", "AKID"}, {"AWS_SECRET_ACCESS_KEY", "s"}}));
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->session_token.empty());
}

TEST(CredentialsFromEnvironment, IncompleteIsNotConfigured) {
  EXPECT_FALSE(credentialsFromEnvironment(fakeEnv({})));
  EXPECT_FALSE(credentialsFromEnvironment(fakeEnv({{"AWS_ACCESS_KEY_ID", "AKID"}})));
  EXPECT_FALSE(credentialsFromEnvironment(fakeEnv({{"AWS_SECRET_ACCESS_KEY", "s"}})));
  EXPECT_FALSE(credentialsFromEnvironment(fakeEnv({{"AWS_ACCESS_KEY_ID", ""}, {"AWS_SECRET_ACCESS_KEY", "s"}})));
  EXPECT_FALSE(credentialsFromEnvironment(EnvLookup{}));
}

// Container endpoint ------------------------------------------------------------

ContainerCredentialsEndpoint endpoint(const ContainerEndpointResult& r) {
  static const ContainerCredentialsEndpoint kNone;
  if (const auto* e = std::get_if<ContainerCredentialsEndpoint>(&r)) return *e;
  if (const auto* err = std::get_if<CredentialsError>(&r)) {
    ADD_FAILURE() << "error " << toString(err->kind) << ": " << err->detail;
  } else {
    ADD_FAILURE() << "not configured";
  }
  return kNone;
}

CredentialsError::Kind errorKind(const ContainerEndpointResult& r) {
  if (const auto* err = std::get_if<CredentialsError>(&r)) return err->kind;
  ADD_FAILURE() << "expected an error";
  return CredentialsError::Kind::not_json;
}

TEST(ContainerCredentialsEndpoint, NotConfigured) {
  EXPECT_TRUE(std::holds_alternative<std::monostate>(containerCredentialsEndpoint(fakeEnv({}), fakeFiles({}))));
}

TEST(ContainerCredentialsEndpoint, RelativeUriUsesEcsAgentAddress) {
  auto r = containerCredentialsEndpoint(
      fakeEnv({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc-123"}}), fakeFiles({}));
  EXPECT_EQ(endpoint(r).url, "http://169.254.170.2/v2/credentials/abc-123");
  EXPECT_FALSE(endpoint(r).authorization);
}

TEST(ContainerCredentialsEndpoint, RelativeWinsOverFull) {
  auto r = containerCredentialsEndpoint(fakeEnv({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/creds"},
                                                 {"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/x"}}),
                                        fakeFiles({}));
  EXPECT_EQ(endpoint(r).url, "http://169.254.170.2/creds");
}

TEST(ContainerCredentialsEndpoint, FullUriLoopbackWithToken) {
  auto r = containerCredentialsEndpoint(fakeEnv({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:40123/creds"},
                                                 {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer abc"}}),
                                        fakeFiles({}));
  EXPECT_EQ(endpoint(r).url, "http://127.0.0.1:40123/creds");
  EXPECT_EQ(endpoint(r).authorization, "Bearer abc");
}

TEST(ContainerCredentialsEndpoint, FullUriAllowedHosts) {
  for (const char* uri :
       {"http://localhost:8080/c", "http://[::1]:80/c", "https://creds.example.com/c",
        "http://169.254.170.23/v1/credentials", "http://[fd00:ec2::23]/v1/credentials", "http://127.1.2.3/c"}) {
    auto r = containerCredentialsEndpoint(fakeEnv({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", uri}}), fakeFiles({}));
    EXPECT_EQ(endpoint(r).url, uri);
  }
}

TEST(ContainerCredentialsEndpoint, FullUriRejectedHosts) {
  for (const char* uri :
       {"http://creds.example.com/c", "http://10.0.0.1/c", "ftp://127.0.0.1/c", "not a uri", "/relative/only"}) {
    auto r = containerCredentialsEndpoint(fakeEnv({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", uri}}), fakeFiles({}));
    EXPECT_EQ(errorKind(r), CredentialsError::Kind::bad_uri) << uri;
  }
}

TEST(ContainerCredentialsEndpoint, TokenFileWinsAndIsTrimmed) {
  auto r = containerCredentialsEndpoint(
      fakeEnv({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.170.23/v1/credentials"},
               {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "from-env"},
               {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/var/run/secrets/token"}}),
      fakeFiles({{"/var/run/secrets/token", "from-file\n"}}));
  EXPECT_EQ(endpoint(r).authorization, "from-file");
}

TEST(ContainerCredentialsEndpoint, TokenFileUnreadable) {
  auto r = containerCredentialsEndpoint(fakeEnv({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1/c"},
                                                 {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/missing"}}),
                                        fakeFiles({}));
  EXPECT_EQ(errorKind(r), CredentialsError::Kind::token_file);
}

TEST(ContainerCredentialsEndpoint, TokenWithLineBreakRejected) {
  auto r = containerCredentialsEndpoint(fakeEnv({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1/c"},
                                                 {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "abc\r\nX-Evil: 1"}}),
                                        fakeFiles({}));
  EXPECT_EQ(errorKind(r), CredentialsError::Kind::bad_token);
}

// Container credentials response -------------------------------------------------

constexpr const char* kEcsResponse = R"({
  "RoleArn": "arn:aws:iam::123456789012:role/task",
  "AccessKeyId": "ASIAIOSFODNN7EXAMPLE",
  "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  "Token": "IQoJb3JpZ2luX2VjEXAMPLETOKEN",
  "Expiration": "2024-01-02T09:00:00Z"
})";

TEST(ParseContainerCredentials, EcsResponse) {
  auto now = at("2024-01-02T03:00:00Z");
  auto r = parseContainerCredentials(kEcsResponse, now);
  ASSERT_TRUE(std::holds_alternative<Credentials>(r)) << toString(std::get<CredentialsError>(r).kind);
  const auto& c = std::get<Credentials>(r);
  EXPECT_EQ(c.access_key, "ASIAIOSFODNN7EXAMPLE");
  EXPECT_EQ(c.secret_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
  EXPECT_EQ(c.session_token, "IQoJb3JpZ2luX2VjEXAMPLETOKEN");
  EXPECT_EQ(c.expiration, at("2024-01-02T09:00:00Z"));
  EXPECT_EQ(c.obtained_at, now);
}

TEST(ParseContainerCredentials, Errors) {
  auto now = Clock::now();
  auto kind = [&](const char* body) {
    auto r = parseContainerCredentials(body, now);
    if (auto* e = std::get_if<CredentialsError>(&r)) return e->kind;
    ADD_FAILURE() << "parsed: " << body;
    return CredentialsError::Kind::not_json;
  };
  EXPECT_EQ(kind("not json"), CredentialsError::Kind::not_json);
  EXPECT_EQ(kind(""), CredentialsError::Kind::not_json);
  EXPECT_EQ(kind("[]"), CredentialsError::Kind::wrong_type);
  EXPECT_EQ(kind(R"({"SecretAccessKey":"s"})"), CredentialsError::Kind::missing_field);
  EXPECT_EQ(kind(R"({"AccessKeyId":"a"})"), CredentialsError::Kind::missing_field);
  EXPECT_EQ(kind(R"({"AccessKeyId":"","SecretAccessKey":"s"})"), CredentialsError::Kind::missing_field);
  EXPECT_EQ(kind(R"({"AccessKeyId":1,"SecretAccessKey":"s"})"), CredentialsError::Kind::wrong_type);
  EXPECT_EQ(kind(R"({"AccessKeyId":"a","SecretAccessKey":"s","Token":[]})"), CredentialsError::Kind::wrong_type);
  EXPECT_EQ(kind(R"({"AccessKeyId":"a","SecretAccessKey":"s","Expiration":"tomorrow"})"),
            CredentialsError::Kind::bad_expiration);
  EXPECT_EQ(kind(R"({"AccessKeyId":"a","SecretAccessKey":"s","Expiration":12})"), CredentialsError::Kind::wrong_type);
}

TEST(ParseContainerCredentials, ErrorDetailNeverHoldsSecret) {
  auto r = parseContainerCredentials(R"({"AccessKeyId":"a","SecretAccessKey":"topsecret","Token":5})", Clock::now());
  ASSERT_TRUE(std::holds_alternative<CredentialsError>(r));
  EXPECT_EQ(std::get<CredentialsError>(r).detail.find("topsecret"), std::string::npos);
}

// Refresh timing with a fake now --------------------------------------------------

TEST(CredentialsRefresh, FiveMinutesBeforeLongLivedExpiry) {
  Credentials c{"a", "s", "t", at("2024-01-02T09:00:00Z"), at("2024-01-02T03:00:00Z")};  // 6 h lifetime
  EXPECT_EQ(c.refreshAt(), at("2024-01-02T08:55:00Z"));
  EXPECT_FALSE(c.needsRefresh(at("2024-01-02T08:54:59Z")));
  EXPECT_TRUE(c.needsRefresh(at("2024-01-02T08:55:00Z")));
  EXPECT_FALSE(c.expired(at("2024-01-02T08:59:59Z")));
  EXPECT_TRUE(c.expired(at("2024-01-02T09:00:00Z")));
}

TEST(CredentialsRefresh, FifteenPercentOfShortLifetime) {
  // 60 s credentials (a test server): refresh 9 s before expiry, not 5 min
  // (which would mean refreshing continuously).
  Credentials c{"a", "s", "t", at("2024-01-02T03:01:00Z"), at("2024-01-02T03:00:00Z")};
  EXPECT_EQ(c.refreshAt(), at("2024-01-02T03:00:51Z"));
  EXPECT_FALSE(c.needsRefresh(at("2024-01-02T03:00:50Z")));
  EXPECT_TRUE(c.needsRefresh(at("2024-01-02T03:00:51Z")));
}

TEST(CredentialsRefresh, UnknownObtainedAtUsesFiveMinutes) {
  Credentials c{"a", "s", "t", at("2024-01-02T09:00:00Z"), std::nullopt};
  EXPECT_EQ(c.refreshAt(), at("2024-01-02T08:55:00Z"));
}

TEST(CredentialsRefresh, ParsedResponseDrivesRefresh) {
  auto now = at("2024-01-02T08:00:00Z");  // 1 h before expiry
  auto c = std::get<Credentials>(parseContainerCredentials(kEcsResponse, now));
  EXPECT_FALSE(c.needsRefresh(now));
  EXPECT_FALSE(c.needsRefresh(now + 54min));
  EXPECT_TRUE(c.needsRefresh(now + 55min));
}

TEST(CredentialsRefresh, AlreadyExpiredOnArrival) {
  auto now = at("2024-01-02T10:00:00Z");
  auto c = std::get<Credentials>(parseContainerCredentials(kEcsResponse, now));
  EXPECT_TRUE(c.needsRefresh(now));
  EXPECT_TRUE(c.expired(now));
}

// Found by fuzz/ecs_credentials_json: (expiration - obtained_at) * 15
// overflowed for an expiration ~20 years ahead, and refreshAt() came out in
// the past or far future at random.
TEST(CredentialsRefresh, FarExpiryDoesNotOverflow) {
  auto now = at("2024-01-02T08:00:00Z");
  Credentials c{"a", "s", "t", at("2200-01-01T00:00:00Z"), now};
  EXPECT_EQ(c.refreshAt(), at("2199-12-31T23:55:00Z"));
  EXPECT_FALSE(c.needsRefresh(now));
}

// Redaction ------------------------------------------------------------------------

TEST(CredentialsRedaction, DescribeAndStreamHideSecrets) {
  Credentials c{"ASIAIOSFODNN7EXAMPLE", kSecret, kToken, at("2024-01-02T09:00:00Z"), std::nullopt};
  std::string d = describe(c);
  std::ostringstream os;
  os << c;
  for (const std::string& s : {d, os.str(), testing::PrintToString(c)}) {
    EXPECT_EQ(s.find(kSecret), std::string::npos) << s;
    EXPECT_EQ(s.find(kToken), std::string::npos) << s;
    EXPECT_EQ(s.find("ASIAIOSFODNN7EXAMPLE"), std::string::npos) << s;
    EXPECT_NE(s.find("ASIA****MPLE"), std::string::npos) << s;
    EXPECT_NE(s.find("2024-01-02T09:00:00Z"), std::string::npos) << s;
  }
  ContainerCredentialsEndpoint e{"http://127.0.0.1/c", "Bearer secret-token"};
  EXPECT_EQ(describe(e).find("secret-token"), std::string::npos);
  EXPECT_EQ(testing::PrintToString(e).find("secret-token"), std::string::npos);
}

// ISO 8601 -----------------------------------------------------------------------

TEST(Iso8601, Forms) {
  auto base = at("2015-08-30T12:36:00Z");
  EXPECT_EQ(formatIso8601(base), "2015-08-30T12:36:00Z");
  EXPECT_EQ(parseIso8601("2015-08-30T12:36:00.000Z"), base);
  EXPECT_EQ(parseIso8601("2015-08-30T14:36:00+02:00"), base);
  EXPECT_EQ(parseIso8601("2015-08-30T11:36:00-01:00"), base);
  EXPECT_EQ(parseIso8601("2015-08-30T12:36:00.5Z"), base + 500ms);
  for (const char* bad : {"", "2015-08-30", "2015-08-30T12:36:00", "2015-02-30T12:36:00Z", "2015-08-30T25:00:00Z",
                          "2015-08-30T12:36:00.Z", "2015-08-30T12:36:00Zjunk", "20150830T123600Z"}) {
    EXPECT_FALSE(parseIso8601(bad)) << bad;
  }
}

// Found by fuzz/ecs_credentials_json: years the clock's 64-bit nanoseconds
// cannot hold (1677..2262) overflowed in the conversion (UB) instead of being
// refused.
TEST(Iso8601, OutOfClockRangeRefused) {
  for (const char* bad : {"1011-11-15T01:13:20+02:00", "9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z",
                          "2262-12-31T00:00:00Z", "1677-01-01T00:00:00Z"}) {
    EXPECT_FALSE(parseIso8601(bad)) << bad;
  }
  EXPECT_TRUE(parseIso8601("2200-01-01T00:00:00Z"));
  EXPECT_TRUE(parseIso8601("1700-01-01T00:00:00.999999999Z"));
  EXPECT_EQ(formatIso8601(*parseIso8601("2261-06-30T12:00:00Z")), "2261-06-30T12:00:00Z");
}

}  // namespace
