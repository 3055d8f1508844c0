// AWS Signature Version 4 as pure functions: no clock, no sockets.
//
// The caller passes the timestamp (`20150830T123600Z`) and the hex SHA-256 of
// the payload; every function here is deterministic, so the AWS SigV4 test
// suite reproduces byte for byte (tests/unit/discovery/sigv4_test.cpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "discovery/aws/credentials.h"

namespace hawser::discovery::aws {

// Headers in the order they appear on the wire; duplicates allowed.
using HeaderList = std::vector<std::pair<std::string, std::string>>;

inline constexpr std::string_view kSigV4Algorithm = "AWS4-HMAC-SHA256";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

struct HttpRequestToSign {
  std::string method;        // "POST"
  std::string target;        // raw path and query as on the request line: "/a/b?x=1"
  HeaderList headers;        // must include Host
  std::string payload_hash;  // lowercase hex SHA-256 of the body, or kUnsignedPayload
};

struct SigningParams {
  std::string region;    // "us-east-1"
  std::string service;   // "servicediscovery"
  std::string amz_date;  // ISO 8601 basic, UTC: "20150830T123600Z"
  // Remove "." / ".." segments and empty segments from the path. Every service
  // but S3 does; S3 signs the path exactly as sent.
  bool normalize_path = true;
  // Percent-encode the path once more (a '%' becomes %25). Every service but S3.
  bool double_encode_path = true;
  // Sign without X-Amz-Security-Token and add it afterwards (a few services,
  // e.g. IoT, want this); normally the token is signed.
  bool omit_session_token = false;
  // Add and sign x-amz-content-sha256 (S3 style).
  bool add_content_sha256_header = false;
};

// The parts of a SigV4 signature, kept so tests and logs can compare each step.
struct SignedRequest {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;       // lowercase hex
  std::string signed_headers;  // "host;x-amz-date"
  std::string authorization;   // the Authorization header value
  // Headers the caller must add to the request, in this order (the order the
  // AWS CRT signer uses): X-Amz-Security-Token, X-Amz-Date,
  // x-amz-content-sha256, Authorization.
  HeaderList headers_to_add;
};

struct PresignedRequest {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;
  std::string target;  // original target with the X-Amz-* query parameters appended
};

// Building blocks ----------------------------------------------------------

std::string sha256Hex(std::string_view data);
// Raw (binary) HMAC-SHA256.
std::string hmacSha256(std::string_view key, std::string_view data);
std::string toHex(std::string_view bytes);

// RFC 3986 percent-encoding of everything but unreserved characters
// (A-Z a-z 0-9 - . _ ~), uppercase hex. `keep_slash` leaves '/' alone.
std::string uriEncode(std::string_view in, bool keep_slash);
// Decodes %XX escapes; malformed escapes are kept literally. '+' stays '+'.
std::string uriDecode(std::string_view in);

std::string canonicalUri(std::string_view raw_path, bool normalize, bool double_encode);
// Decodes then re-encodes every name and value, sorts by name then value;
// "a" becomes "a=".
std::string canonicalQuery(std::string_view raw_query);

// Lowercase names, values trimmed with inner whitespace runs (including
// obs-fold line breaks) collapsed to one space, duplicates joined with ','
// in order of appearance, sorted by name.
struct CanonicalHeaders {
  std::string block;           // "host:example.com\nx-amz-date:...\n"
  std::string signed_headers;  // "host;x-amz-date"
};
// With `only` set, exactly those lowercase names are used (a missing one is
// simply absent: verification checks presence itself).
CanonicalHeaders canonicalHeaders(const HeaderList& headers, const std::vector<std::string>* only = nullptr);

// Headers the signer never signs: hop-by-hop or rewritten by proxies.
bool isUnsignableHeader(std::string_view lowercase_name);

std::string canonicalRequest(std::string_view method, std::string_view canonical_uri, std::string_view canonical_query,
                             const CanonicalHeaders& headers, std::string_view payload_hash);
// "20150830/us-east-1/service/aws4_request"
std::string credentialScope(std::string_view amz_date, std::string_view region, std::string_view service);
std::string stringToSign(std::string_view amz_date, std::string_view scope, std::string_view canonical_request);
// Raw 32-byte key: HMAC chain over date, region, service, "aws4_request".
std::string signingKey(std::string_view secret_key, std::string_view date8, std::string_view region,
                       std::string_view service);
std::string signatureHex(std::string_view signing_key, std::string_view string_to_sign);

// Signing ------------------------------------------------------------------

// Header-based signing. Input headers named authorization, x-amz-date,
// x-amz-security-token and x-amz-content-sha256 are ignored: the signer owns
// them and returns fresh values in headers_to_add.
SignedRequest signRequest(const HttpRequestToSign& request, const Credentials& credentials,
                          const SigningParams& params);

// Query-string signing (presigned URL), valid for `expires_seconds`.
PresignedRequest presignRequest(const HttpRequestToSign& request, const Credentials& credentials,
                                const SigningParams& params, std::int64_t expires_seconds);

// Verification (server side) ------------------------------------------------

enum class VerifyStatus {
  ok,
  missing_authorization,
  malformed_authorization,  // not "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..."
  wrong_scope,              // region/service/terminator differ from what the server expects
  unknown_access_key,
  missing_signed_header,  // SignedHeaders names a header the request lacks, or omits host
  missing_date,           // no valid X-Amz-Date header, or its day differs from the scope
  request_expired,        // outside max_skew of `now`
  signature_mismatch,
};
std::string_view toString(VerifyStatus status);

struct VerifyOptions {
  std::string region;   // empty: accept the region named in the scope
  std::string service;  // empty: accept the service named in the scope
  bool normalize_path = true;
  bool double_encode_path = true;
  // When set, X-Amz-Date must be within max_skew of now (AWS uses 15 minutes).
  std::optional<std::chrono::system_clock::time_point> now;
  std::chrono::seconds max_skew{15 * 60};
};

// Finds the credentials for an access key id; nullopt when unknown.
using CredentialsLookup = std::function<std::optional<Credentials>(std::string_view access_key)>;

// Recomputes the signature over exactly the headers listed in SignedHeaders
// (plus the payload hash the server computed over the received body) and
// compares it in constant time. `request.headers` includes Authorization.
VerifyStatus verifyRequest(const HttpRequestToSign& request, const CredentialsLookup& lookup,
                           const VerifyOptions& options);

// Time helpers ---------------------------------------------------------------

// "20150830T123600Z"
std::string formatAmzDate(std::chrono::system_clock::time_point t);
// Accepts only the exact basic format; nullopt otherwise.
std::optional<std::chrono::system_clock::time_point> parseAmzDate(std::string_view s);

}  // namespace hawser::discovery::aws
