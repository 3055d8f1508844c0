#include "discovery/aws/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <map>

namespace hawser::discovery::aws {
namespace {

char asciiLower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), asciiLower);
  return out;
}

bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

bool isUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void appendEscaped(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out += '%';
  out += kHex[c >> 4];
  out += kHex[c & 0xF];
}

// Trim and collapse whitespace runs (obs-fold line breaks included) to one space.
std::string canonicalHeaderValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  bool pending_space = false;
  for (char c : v) {
    if (isSpace(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

// Headers the signer itself produces; any caller-supplied copy is dropped.
bool isSignerOwned(std::string_view lname) {
  return lname == "authorization" || lname == "x-amz-date" || lname == "x-amz-security-token" ||
         lname == "x-amz-content-sha256";
}

std::pair<std::string_view, std::string_view> splitTarget(std::string_view target) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

std::string normalizePath(std::string_view path) {
  std::vector<std::string_view> segments;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view seg = path.substr(pos, slash - pos);
    if (seg == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!seg.empty() && seg != ".") {
      segments.push_back(seg);
    }
    pos = slash + 1;
  }
  std::string out = "/";
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i) out += '/';
    out += segments[i];
  }
  // A trailing slash is part of the resource name; keep it.
  if (!segments.empty() && (path.ends_with('/'))) out += '/';
  return out;
}

HeaderList withoutSignerOwned(const HeaderList& headers) {
  HeaderList out;
  out.reserve(headers.size());
  for (const auto& [name, value] : headers) {
    if (!isSignerOwned(lower(name))) out.emplace_back(name, value);
  }
  return out;
}

// Signable headers of a request, for the signer (not the verifier).
std::vector<std::string> signableNames(const HeaderList& headers) {
  std::vector<std::string> names;
  for (const auto& [name, value] : headers) {
    std::string l = lower(name);
    if (!isUnsignableHeader(l)) names.push_back(std::move(l));
  }
  return names;
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && isSpace(s[b])) ++b;
  while (e > b && isSpace(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

}  // namespace

std::string toHex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 0xF];
  }
  return out;
}

std::string sha256Hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr) != 1) return {};
  return toHex(std::string_view(reinterpret_cast<const char*>(md.data()), len));
}

std::string hmacSha256(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
           data.size(), md.data(), &len) == nullptr) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(md.data()), len);
}

std::string uriEncode(std::string_view in, bool keep_slash) {
  std::string out;
  out.reserve(in.size() * 3 / 2);
  for (unsigned char c : in) {
    if (isUnreserved(c) || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      appendEscaped(out, c);
    }
  }
  return out;
}

std::string uriDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      int hi = hexValue(in[i + 1]), lo = hexValue(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += in[i];
  }
  return out;
}

std::string canonicalUri(std::string_view raw_path, bool normalize, bool double_encode) {
  std::string path = raw_path.empty() ? std::string("/") : std::string(raw_path);
  if (normalize) path = normalizePath(path);
  if (double_encode) return uriEncode(path, /*keep_slash=*/true);
  // Single encoding (S3): the path is already encoded on the wire, so valid
  // %XX escapes stay as they are (hex uppercased); anything else is encoded.
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(path[i]);
    if (c == '%' && i + 2 < path.size() && hexValue(path[i + 1]) >= 0 && hexValue(path[i + 2]) >= 0) {
      out += '%';
      out += static_cast<char>(std::toupper(static_cast<unsigned char>(path[i + 1])));
      out += static_cast<char>(std::toupper(static_cast<unsigned char>(path[i + 2])));
      i += 2;
    } else if (isUnreserved(c) || c == '/') {
      out += static_cast<char>(c);
    } else {
      appendEscaped(out, c);
    }
  }
  return out;
}

std::string canonicalQuery(std::string_view raw_query) {
  std::vector<std::pair<std::string, std::string>> params;
  size_t pos = 0;
  while (pos <= raw_query.size()) {
    size_t amp = raw_query.find('&', pos);
    if (amp == std::string_view::npos) amp = raw_query.size();
    std::string_view part = raw_query.substr(pos, amp - pos);
    if (!part.empty()) {
      auto eq = part.find('=');
      std::string_view name = part.substr(0, eq);
      std::string_view value = eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
      params.emplace_back(uriEncode(uriDecode(name), false), uriEncode(uriDecode(value), false));
    }
    pos = amp + 1;
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (size_t i = 0; i < params.size(); ++i) {
    if (i) out += '&';
    out += params[i].first;
    out += '=';
    out += params[i].second;
  }
  return out;
}

bool isUnsignableHeader(std::string_view n) {
  return n == "authorization" || n == "connection" || n == "expect" || n == "keep-alive" ||
         n == "proxy-authorization" || n == "proxy-connection" || n == "te" || n == "trailer" ||
         n == "transfer-encoding" || n == "upgrade" || n == "user-agent" || n == "x-amzn-trace-id";
}

CanonicalHeaders canonicalHeaders(const HeaderList& headers, const std::vector<std::string>* only) {
  std::map<std::string, std::string> joined;
  for (const auto& [name, value] : headers) {
    std::string l = lower(trim(name));
    if (only && std::find(only->begin(), only->end(), l) == only->end()) continue;
    auto [it, inserted] = joined.try_emplace(l, canonicalHeaderValue(value));
    if (!inserted) {
      it->second += ',';
      it->second += canonicalHeaderValue(value);
    }
  }
  CanonicalHeaders out;
  for (const auto& [name, value] : joined) {
    out.block += name;
    out.block += ':';
    out.block += value;
    out.block += '\n';
    if (!out.signed_headers.empty()) out.signed_headers += ';';
    out.signed_headers += name;
  }
  return out;
}

std::string canonicalRequest(std::string_view method, std::string_view canonical_uri, std::string_view canonical_query,
                             const CanonicalHeaders& headers, std::string_view payload_hash) {
  std::string out;
  out.reserve(method.size() + canonical_uri.size() + canonical_query.size() + headers.block.size() +
              headers.signed_headers.size() + payload_hash.size() + 8);
  out.append(method).append("\n");
  out.append(canonical_uri).append("\n");
  out.append(canonical_query).append("\n");
  out.append(headers.block).append("\n");
  out.append(headers.signed_headers).append("\n");
  out.append(payload_hash);
  return out;
}

std::string credentialScope(std::string_view amz_date, std::string_view region, std::string_view service) {
  std::string out(amz_date.substr(0, 8));
  out.append("/").append(region).append("/").append(service).append("/aws4_request");
  return out;
}

std::string stringToSign(std::string_view amz_date, std::string_view scope, std::string_view canonical_request) {
  std::string out(kSigV4Algorithm);
  out.append("\n").append(amz_date).append("\n").append(scope).append("\n");
  out.append(sha256Hex(canonical_request));
  return out;
}

std::string signingKey(std::string_view secret_key, std::string_view date8, std::string_view region,
                       std::string_view service) {
  std::string k = "AWS4";
  k.append(secret_key);
  std::string k_date = hmacSha256(k, date8);
  std::string k_region = hmacSha256(k_date, region);
  std::string k_service = hmacSha256(k_region, service);
  return hmacSha256(k_service, "aws4_request");
}

std::string signatureHex(std::string_view signing_key, std::string_view string_to_sign) {
  return toHex(hmacSha256(signing_key, string_to_sign));
}

SignedRequest signRequest(const HttpRequestToSign& request, const Credentials& credentials,
                          const SigningParams& params) {
  HeaderList headers = withoutSignerOwned(request.headers);
  SignedRequest out;
  // Added in the AWS CRT signer's order; the token is always sent, and signed
  // unless omit_session_token.
  if (!credentials.session_token.empty()) {
    out.headers_to_add.emplace_back("X-Amz-Security-Token", credentials.session_token);
    if (!params.omit_session_token) headers.emplace_back("x-amz-security-token", credentials.session_token);
  }
  out.headers_to_add.emplace_back("X-Amz-Date", params.amz_date);
  headers.emplace_back("x-amz-date", params.amz_date);
  if (params.add_content_sha256_header) {
    out.headers_to_add.emplace_back("x-amz-content-sha256", request.payload_hash);
    headers.emplace_back("x-amz-content-sha256", request.payload_hash);
  }

  auto [path, query] = splitTarget(request.target);
  std::vector<std::string> names = signableNames(headers);
  CanonicalHeaders ch = canonicalHeaders(headers, &names);
  out.signed_headers = ch.signed_headers;
  out.canonical_request =
      canonicalRequest(request.method, canonicalUri(path, params.normalize_path, params.double_encode_path),
                       canonicalQuery(query), ch, request.payload_hash);
  std::string scope = credentialScope(params.amz_date, params.region, params.service);
  out.string_to_sign = stringToSign(params.amz_date, scope, out.canonical_request);
  std::string key = signingKey(credentials.secret_key, params.amz_date.substr(0, 8), params.region, params.service);
  out.signature = signatureHex(key, out.string_to_sign);
  out.authorization = std::string(kSigV4Algorithm) + " Credential=" + credentials.access_key + "/" + scope +
                      ", SignedHeaders=" + ch.signed_headers + ", Signature=" + out.signature;
  out.headers_to_add.emplace_back("Authorization", out.authorization);
  return out;
}

PresignedRequest presignRequest(const HttpRequestToSign& request, const Credentials& credentials,
                                const SigningParams& params, std::int64_t expires_seconds) {
  HeaderList headers = withoutSignerOwned(request.headers);
  std::vector<std::string> names = signableNames(headers);
  CanonicalHeaders ch = canonicalHeaders(headers, &names);
  std::string scope = credentialScope(params.amz_date, params.region, params.service);

  // In the order the AWS CRT signer appends them to the URL.
  std::vector<std::pair<std::string, std::string>> added = {
      {"X-Amz-Algorithm", std::string(kSigV4Algorithm)},
      {"X-Amz-Credential", credentials.access_key + "/" + scope},
      {"X-Amz-Date", params.amz_date},
      {"X-Amz-SignedHeaders", ch.signed_headers},
      {"X-Amz-Expires", std::to_string(expires_seconds)},
  };
  auto [path, query] = splitTarget(request.target);
  std::string signed_query(query);
  for (const auto& [k, v] : added) {
    if (!signed_query.empty()) signed_query += '&';
    signed_query += k + "=" + uriEncode(v, false);
  }
  std::string token_param;
  if (!credentials.session_token.empty()) {
    token_param = "X-Amz-Security-Token=" + uriEncode(credentials.session_token, false);
    if (!params.omit_session_token) signed_query += "&" + token_param;
  }

  PresignedRequest out;
  out.canonical_request =
      canonicalRequest(request.method, canonicalUri(path, params.normalize_path, params.double_encode_path),
                       canonicalQuery(signed_query), ch, request.payload_hash);
  out.string_to_sign = stringToSign(params.amz_date, scope, out.canonical_request);
  std::string key = signingKey(credentials.secret_key, params.amz_date.substr(0, 8), params.region, params.service);
  out.signature = signatureHex(key, out.string_to_sign);

  std::string final_query = signed_query;
  if (!token_param.empty() && params.omit_session_token) final_query += "&" + token_param;
  final_query += "&X-Amz-Signature=" + out.signature;
  out.target = std::string(path) + "?" + final_query;
  return out;
}

std::string_view toString(VerifyStatus status) {
  switch (status) {
    case VerifyStatus::ok: return "ok";
    case VerifyStatus::missing_authorization: return "missing_authorization";
    case VerifyStatus::malformed_authorization: return "malformed_authorization";
    case VerifyStatus::wrong_scope: return "wrong_scope";
    case VerifyStatus::unknown_access_key: return "unknown_access_key";
    case VerifyStatus::missing_signed_header: return "missing_signed_header";
    case VerifyStatus::missing_date: return "missing_date";
    case VerifyStatus::request_expired: return "request_expired";
    case VerifyStatus::signature_mismatch: return "signature_mismatch";
  }
  return "unknown";
}

namespace {

struct ParsedAuthorization {
  std::string access_key, date8, region, service, terminator;
  std::vector<std::string> signed_headers;
  std::string signed_headers_raw;
  std::string signature;
};

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (true) {
    size_t next = s.find(sep, pos);
    out.push_back(s.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos));
    if (next == std::string_view::npos) break;
    pos = next + 1;
  }
  return out;
}

std::optional<ParsedAuthorization> parseAuthorization(std::string_view v) {
  std::string value = trim(v);
  std::string_view rest(value);
  if (!rest.starts_with(kSigV4Algorithm)) return std::nullopt;
  rest.remove_prefix(kSigV4Algorithm.size());
  if (rest.empty() || !isSpace(rest.front())) return std::nullopt;
  ParsedAuthorization out;
  bool have_cred = false, have_sh = false, have_sig = false;
  for (std::string_view part : split(rest, ',')) {
    std::string p = trim(part);
    auto eq = p.find('=');
    if (eq == std::string::npos) return std::nullopt;
    std::string key = p.substr(0, eq), val = p.substr(eq + 1);
    if (key == "Credential" && !have_cred) {
      auto f = split(val, '/');
      if (f.size() != 5) return std::nullopt;
      out.access_key = f[0];
      out.date8 = f[1];
      out.region = f[2];
      out.service = f[3];
      out.terminator = f[4];
      have_cred = true;
    } else if (key == "SignedHeaders" && !have_sh) {
      out.signed_headers_raw = val;
      for (auto h : split(val, ';')) {
        if (h.empty()) return std::nullopt;
        out.signed_headers.emplace_back(h);
      }
      have_sh = true;
    } else if (key == "Signature" && !have_sig) {
      if (val.size() != 64) return std::nullopt;
      for (char c : val) {
        if (hexValue(c) < 0) return std::nullopt;
      }
      out.signature = lower(val);
      have_sig = true;
    } else {
      return std::nullopt;
    }
  }
  if (!have_cred || !have_sh || !have_sig || out.access_key.empty()) return std::nullopt;
  return out;
}

}  // namespace

VerifyStatus verifyRequest(const HttpRequestToSign& request, const CredentialsLookup& lookup,
                           const VerifyOptions& options) {
  std::optional<std::string> authorization, amz_date;
  for (const auto& [name, value] : request.headers) {
    std::string l = lower(trim(name));
    if (l == "authorization") {
      if (authorization) return VerifyStatus::malformed_authorization;  // ambiguous
      authorization = value;
    } else if (l == "x-amz-date") {
      amz_date = trim(value);
    }
  }
  if (!authorization) return VerifyStatus::missing_authorization;
  auto auth = parseAuthorization(*authorization);
  if (!auth) return VerifyStatus::malformed_authorization;
  if (auth->terminator != "aws4_request" || (!options.region.empty() && auth->region != options.region) ||
      (!options.service.empty() && auth->service != options.service)) {
    return VerifyStatus::wrong_scope;
  }
  // The verifier signs exactly what the client listed, in canonical (sorted,
  // lowercase) form; it also insists on host, as AWS does.
  std::vector<std::string> names = auth->signed_headers;
  if (std::find(names.begin(), names.end(), "host") == names.end()) {
    return VerifyStatus::missing_signed_header;
  }
  for (const auto& n : names) {
    if (n != lower(n)) return VerifyStatus::malformed_authorization;
    bool present = std::any_of(request.headers.begin(), request.headers.end(),
                               [&](const auto& h) { return lower(trim(h.first)) == n; });
    if (!present) return VerifyStatus::missing_signed_header;
  }
  if (!amz_date || amz_date->substr(0, 8) != auth->date8) return VerifyStatus::missing_date;
  auto when = parseAmzDate(*amz_date);
  if (!when) return VerifyStatus::missing_date;
  if (options.now) {
    auto skew = *options.now > *when ? *options.now - *when : *when - *options.now;
    if (skew > options.max_skew) return VerifyStatus::request_expired;
  }
  std::optional<Credentials> creds = lookup ? lookup(auth->access_key) : std::nullopt;
  if (!creds) return VerifyStatus::unknown_access_key;

  CanonicalHeaders ch = canonicalHeaders(request.headers, &names);
  if (ch.signed_headers != auth->signed_headers_raw) {
    // Listed out of order or with duplicates: the client's canonical form
    // cannot have produced this list.
    return VerifyStatus::malformed_authorization;
  }
  auto [path, query] = splitTarget(request.target);
  std::string creq =
      canonicalRequest(request.method, canonicalUri(path, options.normalize_path, options.double_encode_path),
                       canonicalQuery(query), ch, request.payload_hash);
  std::string scope = credentialScope(*amz_date, auth->region, auth->service);
  std::string sts = stringToSign(*amz_date, scope, creq);
  std::string expected = signatureHex(signingKey(creds->secret_key, auth->date8, auth->region, auth->service), sts);
  if (expected.size() != auth->signature.size() ||
      CRYPTO_memcmp(expected.data(), auth->signature.data(), expected.size()) != 0) {
    return VerifyStatus::signature_mismatch;
  }
  return VerifyStatus::ok;
}

std::string formatAmzDate(std::chrono::system_clock::time_point t) {
  auto days = std::chrono::floor<std::chrono::days>(t);
  std::chrono::year_month_day ymd{days};
  std::chrono::hh_mm_ss hms{std::chrono::floor<std::chrono::seconds>(t - days)};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d%02u%02uT%02d%02d%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

std::optional<std::chrono::system_clock::time_point> parseAmzDate(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return std::nullopt;
  auto num = [&](size_t pos, size_t len) -> int {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return -1;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  int y = num(0, 4), mo = num(4, 2), d = num(6, 2), h = num(9, 2), mi = num(11, 2), se = num(13, 2);
  if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || se < 0) return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(mo)},
                                  std::chrono::day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || se > 60) return std::nullopt;
  return std::chrono::sys_days{ymd} + std::chrono::hours{h} + std::chrono::minutes{mi} + std::chrono::seconds{se};
}

}  // namespace hawser::discovery::aws
