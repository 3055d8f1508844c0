#include "dataplane/forwarder/s3_client.h"

#include <openssl/evp.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/url/parse.hpp>

#include <cctype>
#include <exception>

#include "discovery/aws/sigv4.h"

// GCC 12 misreads a coroutine frame's sized delete as mismatched.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace hawser::forwarder {
namespace aws = discovery::aws;
using discovery::cloudmap::HttpRequest;
using discovery::cloudmap::HttpResponse;

namespace {

HttpResponse failure(std::string error) {
  HttpResponse r;
  r.error = std::move(error);
  return r;
}

bool isIpLiteral(std::string_view host) {
  if (!host.empty() && host.front() == '[') return true;  // IPv6
  if (host.empty()) return false;
  for (char c : host)
    if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.') return false;
  return true;
}

}  // namespace

std::optional<S3Origin> s3Origin(const S3Location& where) {
  auto url = boost::urls::parse_absolute_uri(where.endpoint);
  if (!url) return std::nullopt;
  const auto scheme = url->scheme();
  if ((scheme != "http" && scheme != "https") || url->encoded_host().empty()) return std::nullopt;
  if (!url->encoded_path().empty() && url->encoded_path() != "/") return std::nullopt;
  if (url->has_query() || url->has_userinfo() || url->has_fragment()) return std::nullopt;
  const std::string host(url->encoded_host());
  const std::string port = url->has_port() ? ":" + std::string(url->port()) : "";
  S3Origin o;
  if (where.path_style || isIpLiteral(host)) {
    o.host = host + port;
    o.path = "/" + aws::uriEncode(where.bucket, false);
  } else {
    o.host = where.bucket + "." + host + port;
  }
  o.base = std::string(scheme) + "://" + o.host;
  return o;
}

std::string defaultS3Region(const aws::EnvLookup& env) {
  for (auto name : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
    if (auto v = env(name); v && !v->empty()) return *v;
  }
  return "us-east-1";
}

std::string defaultS3Endpoint(const aws::EnvLookup& env, const std::string& region) {
  for (auto name : {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}) {
    if (auto v = env(name); v && !v->empty()) return *v;
  }
  return "https://s3." + region + ".amazonaws.com";
}

HttpRequest s3Request(const S3Location& where, const S3Origin& origin, std::string method, std::string_view key,
                      std::string_view query, std::string body, const aws::Credentials& credentials,
                      std::string_view amz_date) {
  std::string target = origin.path;
  if (!key.empty() || origin.path.empty()) target += "/" + aws::uriEncode(key, true);
  if (!query.empty()) {
    target += '?';
    target += query;
  }
  HttpRequest rq;
  rq.method = std::move(method);
  rq.url = origin.base + target;
  rq.headers = {{"Host", origin.host}};
  if (!body.empty()) rq.headers.emplace_back("Content-MD5", contentMd5(body));
  aws::HttpRequestToSign to_sign{rq.method, target, rq.headers, aws::sha256Hex(body)};
  aws::SigningParams params;
  params.region = where.region;
  params.service = "s3";
  params.amz_date = std::string(amz_date);
  params.normalize_path = false;
  params.double_encode_path = false;
  params.add_content_sha256_header = true;
  auto signed_request = aws::signRequest(to_sign, credentials, params);
  for (auto& h : signed_request.headers_to_add) rq.headers.push_back(std::move(h));
  rq.body = std::move(body);
  return rq;
}

std::string contentMd5(std::string_view body) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(body.data(), body.size(), digest, &n, EVP_md5(), nullptr);
  unsigned char b64[64];
  const int len = EVP_EncodeBlock(b64, digest, static_cast<int>(n));
  return std::string(reinterpret_cast<char*>(b64), static_cast<size_t>(len));
}

struct S3Client::Io {
  boost::asio::io_context ctx{1};
  discovery::cloudmap::HttpTransport http = discovery::cloudmap::makeHttpTransport(ctx.get_executor());
};

S3Client::S3Client(S3Location where, S3Options options, CredentialsSource credentials)
    : where_(std::move(where)), options_(options), credentials_(std::move(credentials)), io_(std::make_unique<Io>()) {
  if (auto o = s3Origin(where_)) origin_ = *o;
}

S3Client::~S3Client() = default;

HttpResponse S3Client::send(std::string method, std::string_view key, std::string_view query, std::string body,
                            std::vector<std::pair<std::string, std::string>> extra, uint64_t max_response) {
  if (origin_.base.empty()) return failure("bad S3 endpoint " + where_.endpoint);
  auto credentials = credentials_ ? credentials_() : std::nullopt;
  if (!credentials) return failure("no AWS credentials (environment, or ECS container credentials not fetched yet)");
  auto rq = s3Request(where_, origin_, std::move(method), key, query, std::move(body), *credentials,
                      aws::formatAmzDate(std::chrono::system_clock::now()));
  for (auto& h : extra) rq.headers.push_back(std::move(h));
  rq.timeout = options_.timeout;
  rq.max_response_bytes = max_response;
  std::optional<HttpResponse> out;
  boost::asio::co_spawn(io_->ctx, io_->http(std::move(rq)), [&out](std::exception_ptr e, HttpResponse r) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        out = failure(std::string("request failed: ") + x.what());
      }
    } else {
      out = std::move(r);
    }
  });
  io_->ctx.restart();
  io_->ctx.run();
  if (!out) return failure("request did not complete");
  return std::move(*out);
}

std::string S3Client::put(const std::string& key, const std::string& body) {
  if (body.size() >= options_.multipart_threshold && body.size() > options_.part_size) return putParts(key, body);
  auto r = send("PUT", key, "", body, {{"Content-Type", "application/gzip"}});
  if (!r.error.empty()) return r.error;
  if (r.status != 200) return s3ErrorSummary(r.status, r.body);
  return "";
}

std::string S3Client::putParts(const std::string& key, const std::string& body) {
  auto r = send("POST", key, "uploads", "", {{"Content-Type", "application/gzip"}});
  if (!r.error.empty()) return "initiate multipart upload: " + r.error;
  if (r.status != 200) return "initiate multipart upload: " + s3ErrorSummary(r.status, r.body);
  const auto upload_id = xmlText(r.body, "UploadId");
  if (!upload_id || upload_id->empty()) return "initiate multipart upload: no UploadId in the response";
  const auto id = aws::uriEncode(*upload_id, false);
  std::string problem;
  std::vector<std::string> etags;
  for (size_t off = 0; off < body.size() && problem.empty(); off += options_.part_size) {
    const auto n = etags.size() + 1;
    auto part =
        send("PUT", key, "partNumber=" + std::to_string(n) + "&uploadId=" + id, body.substr(off, options_.part_size));
    const auto etag = part.header("etag");
    if (!part.error.empty())
      problem = part.error;
    else if (part.status != 200)
      problem = s3ErrorSummary(part.status, part.body);
    else if (etag.empty())
      problem = "no ETag in the response";
    if (!problem.empty()) problem = "part " + std::to_string(n) + ": " + problem;
    etags.push_back(etag);
  }
  if (problem.empty()) {
    // S3 may answer 200 and still fail the completion: the body then holds an <Error>.
    auto done = send("POST", key, "uploadId=" + id, completeMultipartBody(etags));
    if (!done.error.empty())
      problem = done.error;
    else if (done.status != 200 || done.body.find("<Error>") != std::string::npos)
      problem = s3ErrorSummary(done.status, done.body);
    else
      return "";
    problem = "complete multipart upload: " + problem;
  }
  send("DELETE", key, "uploadId=" + id, "");  // best effort: no parts left behind to pay for
  return problem;
}

bool S3Client::list(const std::string& prefix, std::vector<std::string>& keys, std::string& error) {
  std::string token;
  for (int page = 0; page < 100000; ++page) {
    std::string query = "list-type=2&encoding-type=url&prefix=" + aws::uriEncode(prefix, false);
    if (!token.empty()) query += "&continuation-token=" + aws::uriEncode(token, false);
    auto r = send("GET", "", query, "", {}, 16 << 20);
    if (!r.error.empty() || r.status != 200) {
      error = "list s3://" + where_.bucket + "/" + prefix + ": " +
              (r.error.empty() ? s3ErrorSummary(r.status, r.body) : r.error);
      return false;
    }
    for (auto& k : xmlTexts(r.body, "Key")) keys.push_back(aws::uriDecode(k));
    if (xmlText(r.body, "IsTruncated").value_or("false") != "true") return true;
    token = xmlText(r.body, "NextContinuationToken").value_or("");
    if (token.empty()) {
      error = "list s3://" + where_.bucket + "/" + prefix + ": truncated listing without a continuation token";
      return false;
    }
  }
  error = "list s3://" + where_.bucket + "/" + prefix + ": too many pages";
  return false;
}

bool S3Client::get(const std::string& key, std::string& body, std::string& error) {
  auto r = send("GET", key, "", "", {}, 4ull << 30);
  if (!r.error.empty() || r.status != 200) {
    error =
        "get s3://" + where_.bucket + "/" + key + ": " + (r.error.empty() ? s3ErrorSummary(r.status, r.body) : r.error);
    return false;
  }
  body = std::move(r.body);
  return true;
}

}  // namespace hawser::forwarder
