// The AWS SigV4 test suite (awslabs/aws-c-auth copy, see
// tests/testdata/sigv4/SOURCE.txt), every vector, both header
// signing and query (presigned URL) signing, plus verification.
//
// Each vector directory holds request.txt, context.json (credentials, region,
// service, timestamp, normalize, sign_body, omit_session_token) and, per mode,
// <mode>-canonical-request.txt, <mode>-string-to-sign.txt,
// <mode>-signature.txt and <mode>-signed-request.txt.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "discovery/aws/sigv4.h"

namespace fs = std::filesystem;
using namespace hawser::discovery::aws;

namespace {

const fs::path kSuiteRoot = fs::path(HAWSER_TESTDATA) / "sigv4" / "v4";

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every directory below the suite root that holds a vector (recursing, so
// nested groups such as normalize-path/ are found too).
std::vector<std::string> vectorNames() {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(kSuiteRoot, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory() && fs::exists(it->path() / "request.txt")) {
      names.push_back(fs::relative(it->path(), kSuiteRoot).generic_string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

struct ParsedRequest {
  std::string method;
  std::string target;
  std::string request_line;
  std::string raw_header_block;  // header lines exactly as in the file, each ending in '\n'
  HeaderList headers;            // continuation lines joined with '\n'
  std::string body;
};

// A raw HTTP/1.1 request as the suite writes it: LF line ends, obs-fold
// continuation lines, a target that may contain spaces or raw UTF-8.
ParsedRequest parseRequest(const std::string& text) {
  ParsedRequest r;
  size_t pos = text.find('\n');
  r.request_line = text.substr(0, pos);
  size_t first_space = r.request_line.find(' ');
  size_t last_space = r.request_line.rfind(' ');
  r.method = r.request_line.substr(0, first_space);
  r.target = r.request_line.substr(first_space + 1, last_space - first_space - 1);
  pos = pos == std::string::npos ? text.size() : pos + 1;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    std::string line = text.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
    pos = eol == std::string::npos ? text.size() : eol + 1;
    if (line.empty()) {
      r.body = text.substr(pos);
      break;
    }
    r.raw_header_block += line + "\n";
    if ((line[0] == ' ' || line[0] == '\t') && !r.headers.empty()) {
      r.headers.back().second += "\n" + line;
      continue;
    }
    size_t colon = line.find(':');
    r.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
  }
  return r;
}

struct Context {
  Credentials credentials;
  SigningParams params;
  std::int64_t expires = 0;
};

Context parseContext(const std::string& text) {
  boost::json::value v = boost::json::parse(text);
  const auto& o = v.as_object();
  const auto& c = o.at("credentials").as_object();
  Context ctx;
  ctx.credentials.access_key = c.at("access_key_id").as_string().c_str();
  ctx.credentials.secret_key = c.at("secret_access_key").as_string().c_str();
  if (const auto* t = c.if_contains("token")) ctx.credentials.session_token = t->as_string().c_str();
  ctx.params.region = o.at("region").as_string().c_str();
  ctx.params.service = o.at("service").as_string().c_str();
  // "2015-08-30T12:36:00Z" -> "20150830T123600Z"
  std::string ts = o.at("timestamp").as_string().c_str();
  std::string basic;
  for (char ch : ts) {
    if (ch != '-' && ch != ':') basic += ch;
  }
  ctx.params.amz_date = basic;
  ctx.params.normalize_path = o.at("normalize").as_bool();
  ctx.params.double_encode_path = true;  // the suite signs for a non-S3 service
  ctx.params.add_content_sha256_header = o.at("sign_body").as_bool();
  if (const auto* om = o.if_contains("omit_session_token")) ctx.params.omit_session_token = om->as_bool();
  ctx.expires = o.at("expiration_in_seconds").to_number<std::int64_t>();
  return ctx;
}

std::string testName(const testing::TestParamInfo<std::string>& info) {
  std::string n = info.param;
  for (char& c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return n;
}

struct Vector {
  fs::path dir;
  ParsedRequest request;
  Context ctx;
  HttpRequestToSign toSign;
  std::string expected(const std::string& file) const { return readFile(dir / file); }
};

Vector loadVector(const std::string& name) {
  Vector v;
  v.dir = kSuiteRoot / name;
  v.request = parseRequest(readFile(v.dir / "request.txt"));
  v.ctx = parseContext(readFile(v.dir / "context.json"));
  v.toSign.method = v.request.method;
  v.toSign.target = v.request.target;
  v.toSign.headers = v.request.headers;
  v.toSign.payload_hash = sha256Hex(v.request.body);
  return v;
}

class SigV4HeaderVector : public testing::TestWithParam<std::string> {};
class SigV4QueryVector : public testing::TestWithParam<std::string> {};

TEST_P(SigV4HeaderVector, MatchesSuite) {
  Vector v = loadVector(GetParam());
  SignedRequest s = signRequest(v.toSign, v.ctx.credentials, v.ctx.params);
  EXPECT_EQ(s.canonical_request, v.expected("header-canonical-request.txt"));
  EXPECT_EQ(s.string_to_sign, v.expected("header-string-to-sign.txt"));
  EXPECT_EQ(s.signature, v.expected("header-signature.txt"));

  // The whole signed request: the original headers, then what the signer adds.
  std::string signed_request = v.request.request_line + "\n" + v.request.raw_header_block;
  for (const auto& [name, value] : s.headers_to_add) signed_request += name + ":" + value + "\n";
  signed_request += "\n" + v.request.body;
  EXPECT_EQ(signed_request, v.expected("header-signed-request.txt"));
  EXPECT_NE(v.expected("header-signed-request.txt").find("\nAuthorization:" + s.authorization + "\n"),
            std::string::npos);
}

TEST_P(SigV4HeaderVector, VerifiesAndDetectsTampering) {
  Vector v = loadVector(GetParam());
  SignedRequest s = signRequest(v.toSign, v.ctx.credentials, v.ctx.params);
  HttpRequestToSign received = v.toSign;
  for (const auto& h : s.headers_to_add) received.headers.push_back(h);
  const Credentials creds = v.ctx.credentials;
  CredentialsLookup lookup = [&](std::string_view id) -> std::optional<Credentials> {
    if (id == creds.access_key) return creds;
    return std::nullopt;
  };
  VerifyOptions opts;
  opts.region = v.ctx.params.region;
  opts.service = v.ctx.params.service;
  opts.normalize_path = v.ctx.params.normalize_path;
  opts.now = parseAmzDate(v.ctx.params.amz_date);
  EXPECT_EQ(verifyRequest(received, lookup, opts), VerifyStatus::ok);

  // A header that is not in SignedHeaders may change freely...
  HttpRequestToSign extra = received;
  extra.headers.emplace_back("X-Unsigned", "anything");
  EXPECT_EQ(verifyRequest(extra, lookup, opts), VerifyStatus::ok);

  // ...but the signed ones, the body and the path may not.
  HttpRequestToSign other_host = received;
  for (auto& [name, value] : other_host.headers) {
    if (name == "Host") value = "evil.example.com";
  }
  EXPECT_EQ(verifyRequest(other_host, lookup, opts), VerifyStatus::signature_mismatch);
  HttpRequestToSign other_body = received;
  other_body.payload_hash = sha256Hex("tampered");
  EXPECT_EQ(verifyRequest(other_body, lookup, opts), VerifyStatus::signature_mismatch);
  HttpRequestToSign other_path = received;
  other_path.target = "/other" + other_path.target;
  EXPECT_EQ(verifyRequest(other_path, lookup, opts), VerifyStatus::signature_mismatch);
}

TEST_P(SigV4QueryVector, MatchesSuite) {
  Vector v = loadVector(GetParam());
  PresignedRequest p = presignRequest(v.toSign, v.ctx.credentials, v.ctx.params, v.ctx.expires);
  EXPECT_EQ(p.canonical_request, v.expected("query-canonical-request.txt"));
  EXPECT_EQ(p.string_to_sign, v.expected("query-string-to-sign.txt"));
  EXPECT_EQ(p.signature, v.expected("query-signature.txt"));

  std::string signed_request =
      v.request.method + " " + p.target + " HTTP/1.1\n" + v.request.raw_header_block + "\n" + v.request.body;
  EXPECT_EQ(signed_request, v.expected("query-signed-request.txt"));
}

const std::vector<std::string> kVectors = vectorNames();

INSTANTIATE_TEST_SUITE_P(Suite, SigV4HeaderVector, testing::ValuesIn(kVectors), testName);
INSTANTIATE_TEST_SUITE_P(Suite, SigV4QueryVector, testing::ValuesIn(kVectors), testName);

TEST(SigV4Suite, FindsEveryVector) {
  // The copy in tests/testdata holds 38; fewer means the iteration broke.
  EXPECT_GE(kVectors.size(), 38u) << "suite root: " << kSuiteRoot;
}

// Building blocks -----------------------------------------------------------

TEST(SigV4, SigningKeyMatchesAwsDocumentationExample) {
  // docs.aws.amazon.com "Examples of how to derive a signing key for SigV4".
  std::string key = signingKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam");
  EXPECT_EQ(toHex(key), "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

TEST(SigV4, CanonicalUriNormalisesAndEncodes) {
  EXPECT_EQ(canonicalUri("", true, true), "/");
  EXPECT_EQ(canonicalUri("/a/./b/../c//d/", true, true), "/a/c/d/");
  EXPECT_EQ(canonicalUri("/../..", true, true), "/");
  EXPECT_EQ(canonicalUri("/a%20b", true, true), "/a%2520b");              // double encoding
  EXPECT_EQ(canonicalUri("/a%2fb c/./", false, false), "/a%2Fb%20c/./");  // S3 style
}

TEST(SigV4, CanonicalQuerySortsAndReencodes) {
  EXPECT_EQ(canonicalQuery(""), "");
  EXPECT_EQ(canonicalQuery("b=2&a=1&a=0"), "a=0&a=1&b=2");
  EXPECT_EQ(canonicalQuery("flag&x=a+b&y=%7e%2F"), "flag=&x=a%2Bb&y=~%2F");
}

TEST(SigV4, CanonicalHeadersTrimCollapseJoin) {
  HeaderList h = {{"X-B", "  two   words\n   folded "}, {"x-a", "1"}, {"X-A", " 2 "}, {"Host", "h"}};
  CanonicalHeaders c = canonicalHeaders(h);
  EXPECT_EQ(c.block, "host:h\nx-a:1,2\nx-b:two words folded\n");
  EXPECT_EQ(c.signed_headers, "host;x-a;x-b");
}

TEST(SigV4, CloudMapRequestSignsHostTargetAndToken) {
  HttpRequestToSign r;
  r.method = "POST";
  r.target = "/";
  r.headers = {{"Host", "data-servicediscovery.eu-west-1.amazonaws.com"},
               {"Content-Type", "application/x-amz-json-1.1"},
               {"X-Amz-Target", "Route53AutoNaming_v20170314.DiscoverInstances"},
               {"User-Agent", "hawser/0.1"}};
  r.payload_hash = sha256Hex(R"({"NamespaceName":"ns","ServiceName":"svc"})");
  Credentials c{"AKIDEXAMPLE", "secret", "token", std::nullopt, std::nullopt};
  SigningParams p{"eu-west-1", "servicediscovery", "20240102T030405Z"};
  SignedRequest s = signRequest(r, c, p);
  EXPECT_EQ(s.signed_headers, "content-type;host;x-amz-date;x-amz-security-token;x-amz-target");
  EXPECT_EQ(s.authorization.rfind("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/eu-west-1/"
                                  "servicediscovery/aws4_request, SignedHeaders=",
                                  0),
            0u);
  ASSERT_EQ(s.headers_to_add.size(), 3u);
  EXPECT_EQ(s.headers_to_add[0], (std::pair<std::string, std::string>{"X-Amz-Security-Token", "token"}));
}

class SigV4Verify : public testing::Test {
 protected:
  void SetUp() override {
    request.method = "POST";
    request.target = "/";
    request.headers = {{"Host", "localhost:9000"}, {"X-Amz-Target", "Route53AutoNaming_v20170314.ListServices"}};
    request.payload_hash = sha256Hex("{}");
    SignedRequest s = signRequest(request, creds, params);
    for (const auto& h : s.headers_to_add) request.headers.push_back(h);
    lookup = [this](std::string_view id) -> std::optional<Credentials> {
      if (id == creds.access_key) return creds;
      return std::nullopt;
    };
    options.region = "us-east-1";
    options.service = "servicediscovery";
  }
  void setAuthorization(const std::string& value) {
    for (auto& [n, v] : request.headers) {
      if (n == "Authorization") v = value;
    }
  }
  std::string authorization() const {
    for (const auto& [n, v] : request.headers) {
      if (n == "Authorization") return v;
    }
    return {};
  }
  Credentials creds{"AKIDLOCAL", "local-secret", "", std::nullopt, std::nullopt};
  SigningParams params{"us-east-1", "servicediscovery", "20240102T030405Z"};
  HttpRequestToSign request;
  CredentialsLookup lookup;
  VerifyOptions options;
};

TEST_F(SigV4Verify, Ok) {
  EXPECT_EQ(verifyRequest(request, lookup, options), VerifyStatus::ok);
}

TEST_F(SigV4Verify, MissingAuthorization) {
  std::erase_if(request.headers, [](const auto& h) { return h.first == "Authorization"; });
  EXPECT_EQ(verifyRequest(request, lookup, options), VerifyStatus::missing_authorization);
}

TEST_F(SigV4Verify, Malformed) {
  setAuthorization("Basic dXNlcjpwYXNz");
  EXPECT_EQ(verifyRequest(request, lookup, options), VerifyStatus::malformed_authorization);
  setAuthorization("AWS4-HMAC-SHA256 Credential=AKIDLOCAL/20240102/us-east-1/servicediscovery/aws4_request");
  EXPECT_EQ(verifyRequest(request, lookup, options), VerifyStatus::malformed_authorization);
}

TEST_F(SigV4Verify, WrongScopeAndUnknownKey) {
  std::string a = authorization();
  options.region = "eu-west-1";
  EXPECT_EQ(verifyRequest(request, lookup, options), VerifyStatus::wrong_scope);
  options.region = "";
  std::string other = a;
  other.replace(other.find("AKIDLOCAL"), 9, "AKIDOTHER");
  setAuthorization(other);
  EXPECT_EQ(verifyRequest(request, lookup, options), VerifyStatus::unknown_access_key);
}

TEST_F(SigV4Verify, SignedHeaderMissingFromRequest) {
  std::erase_if(request.headers, [](const auto& h) { return h.first == "X-Amz-Target"; });
  EXPECT_EQ(verifyRequest(request, lookup, options), VerifyStatus::missing_signed_header);
}

TEST_F(SigV4Verify, TamperedSignedHeaderAndSignature) {
  for (auto& [n, v] : request.headers) {
    if (n == "X-Amz-Target") v = "Route53AutoNaming_v20170314.DeleteService";
  }
  EXPECT_EQ(verifyRequest(request, lookup, options), VerifyStatus::signature_mismatch);
}

TEST_F(SigV4Verify, FlippedSignatureDigit) {
  std::string a = authorization();
  a.back() = a.back() == '0' ? '1' : '0';
  setAuthorization(a);
  EXPECT_EQ(verifyRequest(request, lookup, options), VerifyStatus::signature_mismatch);
}

TEST_F(SigV4Verify, ClockSkew) {
  auto signed_at = *parseAmzDate(params.amz_date);
  options.now = signed_at + std::chrono::minutes(14);
  EXPECT_EQ(verifyRequest(request, lookup, options), VerifyStatus::ok);
  options.now = signed_at + std::chrono::minutes(16);
  EXPECT_EQ(verifyRequest(request, lookup, options), VerifyStatus::request_expired);
  options.now = signed_at - std::chrono::minutes(16);
  EXPECT_EQ(verifyRequest(request, lookup, options), VerifyStatus::request_expired);
}

TEST(SigV4, AmzDateRoundTrip) {
  auto t = parseAmzDate("20150830T123600Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(formatAmzDate(*t), "20150830T123600Z");
  EXPECT_FALSE(parseAmzDate("2015-08-30T12:36:00Z"));
  EXPECT_FALSE(parseAmzDate("20151330T123600Z"));
  EXPECT_FALSE(parseAmzDate("20150830T123600"));
}

}  // namespace
