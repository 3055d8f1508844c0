#include "dataplane/forwarder/s3_client.h"

#include <gtest/gtest.h>

#include <map>

#include "discovery/aws/sigv4.h"

namespace hawser::forwarder {
namespace {
namespace aws = discovery::aws;

aws::Credentials testCredentials() {
  aws::Credentials c;
  c.access_key = "AKIAIOSFODNN7EXAMPLE";
  c.secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  return c;
}

std::string header(const discovery::cloudmap::HttpRequest& rq, std::string_view name) {
  for (const auto& [k, v] : rq.headers)
    if (k == name) return v;
  return "";
}

TEST(S3Origin, VirtualHostStyleByDefault) {
  auto o = s3Origin({"https://s3.eu-west-1.amazonaws.com", "eu-west-1", "capture-logs", false});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->base, "https://capture-logs.s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(o->host, "capture-logs.s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(o->path, "");
}

TEST(S3Origin, PathStyleWhenAskedOrForAnIpEndpoint) {
  auto o = s3Origin({"http://minio.local:9000", "us-east-1", "b1", true});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->base, "http://minio.local:9000");
  EXPECT_EQ(o->host, "minio.local:9000");
  EXPECT_EQ(o->path, "/b1");
  auto ip = s3Origin({"http://127.0.0.1:4569", "us-east-1", "b1", false});
  ASSERT_TRUE(ip);
  EXPECT_EQ(ip->path, "/b1");
  EXPECT_EQ(ip->host, "127.0.0.1:4569");
}

TEST(S3Origin, RefusesWhatIsNotAnOrigin) {
  for (const char* bad :
       {"s3.amazonaws.com", "ftp://x", "https://", "https://h/path", "https://u:p@h", "https://h?q=1"})
    EXPECT_FALSE(s3Origin({bad, "r", "bucket", false})) << bad;
}

TEST(S3Defaults, FollowTheSdkEnvironment) {
  std::map<std::string, std::string> vars;
  aws::EnvLookup env = [&](std::string_view n) -> std::optional<std::string> {
    auto it = vars.find(std::string(n));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  EXPECT_EQ(defaultS3Region(env), "us-east-1");
  EXPECT_EQ(defaultS3Endpoint(env, "eu-west-1"), "https://s3.eu-west-1.amazonaws.com");
  vars["AWS_DEFAULT_REGION"] = "eu-west-2";
  EXPECT_EQ(defaultS3Region(env), "eu-west-2");
  vars["AWS_REGION"] = "eu-central-1";
  EXPECT_EQ(defaultS3Region(env), "eu-central-1");
  vars["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1";
  EXPECT_EQ(defaultS3Endpoint(env, "x"), "http://127.0.0.1:1");
  vars["AWS_ENDPOINT_URL_S3"] = "http://127.0.0.1:2";
  EXPECT_EQ(defaultS3Endpoint(env, "x"), "http://127.0.0.1:2");
}

TEST(ContentMd5, IsBase64OfTheDigest) {
  EXPECT_EQ(contentMd5(""), "1B2M2Y8AsgTpgAmY7PhCfg==");
  EXPECT_EQ(contentMd5("hello"), "XUFAKrxLKna5cZ2REBfFkg==");
}

// The request verifies with S3's rules (no path normalization, single
// encoding, signed payload hash) and signs Host, Content-MD5 and the hash.
TEST(S3Request, PutIsSignedTheWayS3Verifies) {
  S3Location where{"https://s3.eu-west-1.amazonaws.com", "eu-west-1", "capture-logs", false};
  auto origin = s3Origin(where);
  ASSERT_TRUE(origin);
  const std::string key = "capture/web api/2026/12/02/1764669600000-1.ndjson.gz";
  auto rq = s3Request(where, *origin, "PUT", key, "", "body bytes", testCredentials(), "20261202T100000Z");
  EXPECT_EQ(rq.url,
            "https://capture-logs.s3.eu-west-1.amazonaws.com/capture/web%20api/2026/12/02/"
            "1764669600000-1.ndjson.gz");
  EXPECT_EQ(header(rq, "Host"), "capture-logs.s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(header(rq, "Content-MD5"), contentMd5("body bytes"));
  EXPECT_EQ(header(rq, "x-amz-content-sha256"), aws::sha256Hex("body bytes"));
  const auto auth = header(rq, "Authorization");
  EXPECT_NE(auth.find("Credential=AKIAIOSFODNN7EXAMPLE/20261202/eu-west-1/s3/aws4_request"), std::string::npos);
  EXPECT_NE(auth.find("SignedHeaders=content-md5;host;x-amz-content-sha256;x-amz-date"), std::string::npos);

  const auto target = rq.url.substr(origin->base.size());
  aws::HttpRequestToSign received{"PUT", target, rq.headers, aws::sha256Hex(rq.body)};
  aws::VerifyOptions opts;
  opts.region = "eu-west-1";
  opts.service = "s3";
  opts.normalize_path = false;
  opts.double_encode_path = false;
  auto lookup = [](std::string_view) { return std::optional<aws::Credentials>(testCredentials()); };
  EXPECT_EQ(aws::verifyRequest(received, lookup, opts), aws::VerifyStatus::ok);
  // A changed body (so a changed Content-MD5 and hash) no longer verifies.
  auto tampered = received;
  for (auto& [k, v] : tampered.headers)
    if (k == "Content-MD5") v = contentMd5("other");
  EXPECT_EQ(aws::verifyRequest(tampered, lookup, opts), aws::VerifyStatus::signature_mismatch);
}

TEST(S3Request, PathStyleQueriesAndTheBucketItself) {
  S3Location where{"http://127.0.0.1:9000", "us-east-1", "b1", true};
  auto origin = s3Origin(where);
  ASSERT_TRUE(origin);
  auto part = s3Request(where, *origin, "PUT", "k/x.gz", "partNumber=2&uploadId=abc%2B", "p", testCredentials(),
                        "20261202T100000Z");
  EXPECT_EQ(part.url, "http://127.0.0.1:9000/b1/k/x.gz?partNumber=2&uploadId=abc%2B");
  auto list =
      s3Request(where, *origin, "GET", "", "list-type=2&prefix=p%2F", "", testCredentials(), "20261202T100000Z");
  EXPECT_EQ(list.url, "http://127.0.0.1:9000/b1?list-type=2&prefix=p%2F");
  EXPECT_EQ(header(list, "Content-MD5"), "");  // no body, no digest
  S3Location vh{"https://s3.amazonaws.com", "us-east-1", "b1", false};
  auto vlist = s3Request(vh, *s3Origin(vh), "GET", "", "list-type=2", "", testCredentials(), "20261202T100000Z");
  EXPECT_EQ(vlist.url, "https://b1.s3.amazonaws.com/?list-type=2");
}

TEST(S3Xml, ReadsNamedElementsNotTheirPrefixes) {
  const std::string list =
      "<?xml version=\"1.0\"?><ListBucketResult><KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>"
      "<Contents><Key>a/1.gz</Key></Contents><Contents><Key>a/b&amp;c%20.gz</Key></Contents>"
      "<NextContinuationToken>tok/+=</NextContinuationToken></ListBucketResult>";
  EXPECT_EQ(xmlTexts(list, "Key"), (std::vector<std::string>{"a/1.gz", "a/b&c%20.gz"}));
  EXPECT_EQ(xmlText(list, "KeyCount"), "2");
  EXPECT_EQ(xmlText(list, "IsTruncated"), "true");
  EXPECT_EQ(xmlText(list, "NextContinuationToken"), "tok/+=");
  EXPECT_FALSE(xmlText(list, "UploadId"));
  EXPECT_EQ(xmlText("<A><UploadId/><UploadId x=\"1\">id</UploadId></A>", "UploadId"), "");
  EXPECT_EQ(xmlTexts("<A><UploadId/><UploadId x=\"1\">id</UploadId></A>", "UploadId"),
            (std::vector<std::string>{"", "id"}));
  EXPECT_FALSE(xmlText("<Key>unterminated", "Key"));
}

TEST(S3Xml, DecodesEntitiesAndKeepsWhatIsNotOne) {
  EXPECT_EQ(xmlText("<M>&lt;&gt;&quot;&apos;&amp;&#65;&#x263A;&bogus;&#0;&#xD800;&</M>", "M"),
            "<>\"'&A\xE2\x98\xBA&bogus;&#0;&#xD800;&");
}

TEST(S3Xml, ErrorSummaryAndCompletion) {
  EXPECT_EQ(s3ErrorSummary(404,
                           "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not "
                           "exist</Message></Error>"),
            "HTTP 404 NoSuchBucket: The specified bucket does not exist");
  EXPECT_EQ(s3ErrorSummary(502, "<html>bad gateway</html>"), "HTTP 502");
  const std::vector<std::string> etags{"\"e1\"", "\"a&b\""};
  const auto doc = completeMultipartBody(etags);
  EXPECT_EQ(doc,
            "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Part><PartNumber>1</"
            "PartNumber><ETag>\"e1\"</ETag></Part><Part><PartNumber>2</PartNumber><ETag>\"a&amp;b\"</ETag></Part></"
            "CompleteMultipartUpload>");
  EXPECT_EQ(xmlTexts(doc, "ETag"), etags);
}

}  // namespace
}  // namespace hawser::forwarder
