#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <string>
#include <variant>

#include "discovery/aws/cloudmap_codec.h"

using namespace hawser::discovery::aws;

namespace {

// By value: callers pass temporaries.
DiscoveredInstances ok(const DiscoverInstancesResult& r) {
  if (const auto* e = std::get_if<CloudMapError>(&r)) {
    ADD_FAILURE() << "unexpected error " << toString(e->kind) << ": " << e->message;
    return {};
  }
  return std::get<DiscoveredInstances>(r);
}

CloudMapError err(const DiscoverInstancesResult& r) {
  if (const auto* e = std::get_if<CloudMapError>(&r)) return *e;
  ADD_FAILURE() << "expected an error, got " << std::get<DiscoveredInstances>(r).endpoints.size() << " endpoints";
  return {};
}

std::string instance(const std::string& id, const std::string& attributes) {
  return R"({"InstanceId":")" + id +
         R"(","NamespaceName":"ns","ServiceName":"svc","HealthStatus":"HEALTHY","Attributes":)" + attributes + "}";
}

std::string response(const std::string& instances, const std::string& revision = "7") {
  return R"({"Instances":[)" + instances + R"(],"InstancesRevision":)" + revision + "}";
}

// Request side ----------------------------------------------------------------

TEST(CloudMapEndpoint, RegionalDefaultHasDataPrefix) {
  EXPECT_EQ(cloudMapEndpoint("eu-west-1"), "https://data-servicediscovery.eu-west-1.amazonaws.com");
  EXPECT_EQ(cloudMapEndpoint("us-east-1", ""), "https://data-servicediscovery.us-east-1.amazonaws.com");
}

TEST(CloudMapEndpoint, OverrideUsedAsIs) {
  EXPECT_EQ(cloudMapEndpoint("eu-west-1", "http://127.0.0.1:9000"), "http://127.0.0.1:9000");
  EXPECT_EQ(cloudMapEndpoint("eu-west-1", "https://servicediscovery.eu-west-1.amazonaws.com"),
            "https://servicediscovery.eu-west-1.amazonaws.com");
}

TEST(CloudMapTargets, Names) {
  EXPECT_EQ(kDiscoverInstancesTarget, "Route53AutoNaming_v20170314.DiscoverInstances");
  EXPECT_EQ(kDiscoverInstancesRevisionTarget, "Route53AutoNaming_v20170314.DiscoverInstancesRevision");
  EXPECT_EQ(kCloudMapContentType, "application/x-amz-json-1.1");
}

TEST(CloudMapEncode, MinimalRequest) {
  DiscoverInstancesRequest r;
  r.namespace_name = "mesh.local";
  r.service_name = "orders";
  EXPECT_EQ(encodeDiscoverInstances(r), R"({"NamespaceName":"mesh.local","ServiceName":"orders"})");
}

TEST(CloudMapEncode, FullRequest) {
  DiscoverInstancesRequest r;
  r.namespace_name = "mesh.local";
  r.service_name = "orders";
  r.health_status = HealthStatusFilter::healthy_or_else_all;
  r.query_parameters = {{"version", "v2"}};
  r.optional_parameters = {{"AVAILABILITY_ZONE", "eu-west-1a"}};
  r.max_results = 50;
  r.owner_account = "123456789012";
  boost::json::value v = boost::json::parse(encodeDiscoverInstances(r));
  const auto& o = v.as_object();
  EXPECT_EQ(o.at("NamespaceName").as_string(), "mesh.local");
  EXPECT_EQ(o.at("ServiceName").as_string(), "orders");
  EXPECT_EQ(o.at("HealthStatus").as_string(), "HEALTHY_OR_ELSE_ALL");
  EXPECT_EQ(o.at("QueryParameters").as_object().at("version").as_string(), "v2");
  EXPECT_EQ(o.at("OptionalParameters").as_object().at("AVAILABILITY_ZONE").as_string(), "eu-west-1a");
  EXPECT_EQ(o.at("MaxResults").as_int64(), 50);
  EXPECT_EQ(o.at("OwnerAccount").as_string(), "123456789012");
}

TEST(CloudMapEncode, RevisionRequest) {
  EXPECT_EQ(encodeDiscoverInstancesRevision("ns", "svc"), R"({"NamespaceName":"ns","ServiceName":"svc"})");
  EXPECT_EQ(encodeDiscoverInstancesRevision("ns", "svc", "123456789012"),
            R"({"NamespaceName":"ns","ServiceName":"svc","OwnerAccount":"123456789012"})");
}

TEST(CloudMapEncode, EscapesStrings) {
  DiscoverInstancesRequest r;
  r.namespace_name = "a\"b";
  r.service_name = "c\\d";
  boost::json::value v = boost::json::parse(encodeDiscoverInstances(r));
  EXPECT_EQ(v.as_object().at("NamespaceName").as_string(), "a\"b");
}

TEST(HealthStatusFilterNames, RoundTrip) {
  for (auto f : {HealthStatusFilter::healthy, HealthStatusFilter::unhealthy, HealthStatusFilter::all,
                 HealthStatusFilter::healthy_or_else_all}) {
    EXPECT_EQ(parseHealthStatusFilter(toString(f)), f);
  }
  EXPECT_FALSE(parseHealthStatusFilter("healthy"));
}

// Response side ---------------------------------------------------------------

TEST(CloudMapDecode, EndpointsWithAllAttributesAndRevision) {
  auto r = decodeDiscoverInstances(
      200, response(instance("i-1", R"({"AWS_INSTANCE_IPV4":"10.0.0.1","AWS_INSTANCE_PORT":"8080",)"
                                    R"("version":"v2","AVAILABILITY_ZONE":"eu-west-1a"})") +
                        "," + instance("i-2", R"({"AWS_INSTANCE_IPV4":"10.0.0.2","AWS_INSTANCE_PORT":"9090"})"),
                    "1234567890123"));
  const DiscoveredInstances d = ok(r);
  ASSERT_EQ(d.endpoints.size(), 2u);
  EXPECT_EQ(d.revision, 1234567890123);
  EXPECT_FALSE(d.empty_instance_list);
  EXPECT_TRUE(d.skipped.empty());
  const Endpoint& e = d.endpoints[0];
  EXPECT_EQ(e.host, "10.0.0.1");
  EXPECT_EQ(e.port, 8080);
  EXPECT_EQ(e.instance_id, "i-1");
  EXPECT_EQ(e.attributes.at("version"), "v2");
  EXPECT_EQ(e.attributes.at("AVAILABILITY_ZONE"), "eu-west-1a");
  EXPECT_EQ(e.attributes.at("AWS_INSTANCE_PORT"), "8080");
  EXPECT_EQ(d.endpoints[1].port, 9090);
}

TEST(CloudMapDecode, Ipv6Host) {
  const DiscoveredInstances d = ok(decodeDiscoverInstances(
      200, response(instance("i-6", R"({"AWS_INSTANCE_IPV6":"fd00:ec2::1","AWS_INSTANCE_PORT":"443"})"))));
  ASSERT_EQ(d.endpoints.size(), 1u);
  EXPECT_EQ(d.endpoints[0].host, "fd00:ec2::1");
  EXPECT_EQ(d.endpoints[0].port, 443);
}

TEST(CloudMapDecode, Ipv4PreferredOverIpv6) {
  const DiscoveredInstances d = ok(decodeDiscoverInstances(
      200, response(instance("i-d", R"({"AWS_INSTANCE_IPV4":"192.0.2.1","AWS_INSTANCE_IPV6":"2001:db8::1",)"
                                    R"("AWS_INSTANCE_PORT":"80"})"))));
  ASSERT_EQ(d.endpoints.size(), 1u);
  EXPECT_EQ(d.endpoints[0].host, "192.0.2.1");
}

TEST(CloudMapDecode, EmptyListIsValidAndFlagged) {
  const DiscoveredInstances d = ok(decodeDiscoverInstances(200, R"({"Instances":[],"InstancesRevision":3})"));
  EXPECT_TRUE(d.empty_instance_list);
  EXPECT_TRUE(d.endpoints.empty());
  EXPECT_EQ(d.revision, 3);
  const DiscoveredInstances absent = ok(decodeDiscoverInstances(200, "{}"));
  EXPECT_TRUE(absent.empty_instance_list);
  EXPECT_FALSE(absent.revision);
}

TEST(CloudMapDecode, NotJson) {
  for (const char* body : {"", "<html>oops</html>", "{\"Instances\":[", "null garbage"}) {
    EXPECT_EQ(err(decodeDiscoverInstances(200, body)).kind, CloudMapError::Kind::not_json) << body;
  }
}

TEST(CloudMapDecode, WrongTypes) {
  for (const char* body :
       {R"([])", R"("x")", R"({"Instances":{}})", R"({"Instances":"a"})", R"({"Instances":[],"InstancesRevision":"7"})",
        R"({"Instances":[],"InstancesRevision":1.5})"}) {
    EXPECT_EQ(err(decodeDiscoverInstances(200, body)).kind, CloudMapError::Kind::wrong_type) << body;
  }
}

TEST(CloudMapDecode, InstanceOfWrongTypeSkipped) {
  std::string good = instance("ok", R"({"AWS_INSTANCE_IPV4":"10.0.0.1","AWS_INSTANCE_PORT":"80"})");
  const DiscoveredInstances d = ok(decodeDiscoverInstances(
      200, response(good + R"(,42,)" + instance("num", R"({"AWS_INSTANCE_IPV4":"10.0.0.2","AWS_INSTANCE_PORT":80})") +
                    "," + instance("attrs", R"(["x"])"))));
  ASSERT_EQ(d.endpoints.size(), 1u);
  ASSERT_EQ(d.skipped.size(), 3u);
  for (const auto& s : d.skipped) EXPECT_EQ(s.reason, CloudMapError::Kind::wrong_type) << s.detail;
  EXPECT_EQ(d.skipped[1].instance_id, "num");
}

TEST(CloudMapDecode, MissingAttributesSkippedAndCounted) {
  std::string good = instance("ok", R"({"AWS_INSTANCE_IPV4":"10.0.0.1","AWS_INSTANCE_PORT":"80"})");
  std::string no_ip = instance("no-ip", R"({"AWS_INSTANCE_PORT":"80"})");
  std::string no_port = instance("no-port", R"({"AWS_INSTANCE_IPV4":"10.0.0.3"})");
  std::string no_attrs = R"({"InstanceId":"bare"})";
  const DiscoveredInstances d =
      ok(decodeDiscoverInstances(200, response(good + "," + no_ip + "," + no_port + "," + no_attrs)));
  ASSERT_EQ(d.endpoints.size(), 1u);
  EXPECT_EQ(d.endpoints[0].instance_id, "ok");
  ASSERT_EQ(d.skipped.size(), 3u);
  EXPECT_EQ(d.skipped[0].instance_id, "no-ip");
  EXPECT_EQ(d.skipped[0].reason, CloudMapError::Kind::missing_attribute);
  EXPECT_EQ(d.skipped[1].instance_id, "no-port");
  EXPECT_EQ(d.skipped[1].reason, CloudMapError::Kind::missing_attribute);
  EXPECT_EQ(d.skipped[2].reason, CloudMapError::Kind::missing_attribute);
}

TEST(CloudMapDecode, AllInstancesUnusableIsAnError) {
  // Replacing a working set with nothing would black-hole the service; the
  // caller gets an error and keeps its last-known set.
  auto e = err(decodeDiscoverInstances(
      200, response(instance("a", R"({"AWS_INSTANCE_PORT":"80"})") + "," +
                    instance("b", R"({"AWS_INSTANCE_IPV4":"10.0.0.1","AWS_INSTANCE_PORT":"0"})"))));
  EXPECT_EQ(e.kind, CloudMapError::Kind::missing_attribute);
  EXPECT_NE(e.message.find("none of 2"), std::string::npos) << e.message;
}

TEST(CloudMapDecode, PortsOutOfRange) {
  for (const char* port : {"0", "70000", "65536", "abc", "", "-1", "+80", " 80", "80 ", "8080808080", "1e3"}) {
    auto body =
        response(instance("p", std::string(R"({"AWS_INSTANCE_IPV4":"10.0.0.1","AWS_INSTANCE_PORT":")") + port + "\"}"));
    EXPECT_EQ(err(decodeDiscoverInstances(200, body)).kind, CloudMapError::Kind::bad_port) << port;
  }
  auto edge = decodeDiscoverInstances(
      200, response(instance("p", R"({"AWS_INSTANCE_IPV4":"10.0.0.1","AWS_INSTANCE_PORT":"65535"})") + "," +
                    instance("q", R"({"AWS_INSTANCE_IPV4":"10.0.0.2","AWS_INSTANCE_PORT":"1"})")));
  ASSERT_EQ(ok(edge).endpoints.size(), 2u);
  EXPECT_EQ(ok(edge).endpoints[0].port, 65535);
  EXPECT_EQ(ok(edge).endpoints[1].port, 1);
}

TEST(CloudMapDecode, BadPortSkippedAmongGood) {
  const DiscoveredInstances d = ok(decodeDiscoverInstances(
      200, response(instance("good", R"({"AWS_INSTANCE_IPV4":"10.0.0.1","AWS_INSTANCE_PORT":"80"})") + "," +
                    instance("bad", R"({"AWS_INSTANCE_IPV4":"10.0.0.2","AWS_INSTANCE_PORT":"70000"})"))));
  ASSERT_EQ(d.endpoints.size(), 1u);
  ASSERT_EQ(d.skipped.size(), 1u);
  EXPECT_EQ(d.skipped[0].reason, CloudMapError::Kind::bad_port);
  EXPECT_EQ(d.skipped[0].instance_id, "bad");
}

TEST(CloudMapDecode, BadAddresses) {
  for (const char* attrs : {R"({"AWS_INSTANCE_IPV4":"example.com","AWS_INSTANCE_PORT":"80"})",
                            R"({"AWS_INSTANCE_IPV4":"10.0.0.256","AWS_INSTANCE_PORT":"80"})",
                            R"({"AWS_INSTANCE_IPV6":"[::1]","AWS_INSTANCE_PORT":"80"})",
                            R"({"AWS_INSTANCE_IPV4":"","AWS_INSTANCE_PORT":"80"})"}) {
    EXPECT_EQ(err(decodeDiscoverInstances(200, response(instance("x", attrs)))).kind, CloudMapError::Kind::bad_address)
        << attrs;
  }
}

TEST(CloudMapDecode, ThrottlingErrorBody) {
  auto e = err(decodeDiscoverInstances(
      400, R"({"__type":"com.amazonaws.servicediscovery#RequestLimitExceeded","message":"Rate exceeded"})"));
  EXPECT_EQ(e.kind, CloudMapError::Kind::throttled);
  EXPECT_EQ(e.type, "RequestLimitExceeded");
  EXPECT_EQ(e.message, "Rate exceeded");
  EXPECT_EQ(e.http_status, 400u);

  EXPECT_EQ(err(decodeDiscoverInstances(400, R"({"__type":"ThrottlingException","Message":"slow"})")).kind,
            CloudMapError::Kind::throttled);
  EXPECT_EQ(err(decodeDiscoverInstances(429, "Too Many Requests")).kind, CloudMapError::Kind::throttled);
  EXPECT_EQ(err(decodeDiscoverInstances(503, "")).kind, CloudMapError::Kind::throttled);
  // Type only in the X-Amzn-ErrorType header.
  auto h = err(decodeDiscoverInstances(400, "", "ThrottlingException:http://internal.amazon.com/"));
  EXPECT_EQ(h.kind, CloudMapError::Kind::throttled);
  EXPECT_EQ(h.type, "ThrottlingException");
}

TEST(CloudMapDecode, AwsErrorBody) {
  auto e = err(decodeDiscoverInstances(
      404, R"({"__type":"com.amazonaws.servicediscovery#NamespaceNotFound","Message":"Namespace not found"})"));
  EXPECT_EQ(e.kind, CloudMapError::Kind::aws_error);
  EXPECT_EQ(e.type, "NamespaceNotFound");
  EXPECT_EQ(e.message, "Namespace not found");
  EXPECT_EQ(e.http_status, 404u);
  auto p = err(decodeDiscoverInstances(400, R"({"__type":"InvalidInput","message":"bad"})"));
  EXPECT_EQ(p.kind, CloudMapError::Kind::aws_error);
  EXPECT_EQ(p.type, "InvalidInput");
}

TEST(CloudMapDecode, HttpErrorWithoutAwsBody) {
  auto e = err(decodeDiscoverInstances(502, "<html>Bad Gateway</html>"));
  EXPECT_EQ(e.kind, CloudMapError::Kind::http_error);
  EXPECT_EQ(e.message, "HTTP 502");
  EXPECT_EQ(err(decodeDiscoverInstances(500, R"({"nothing":"here"})")).kind, CloudMapError::Kind::http_error);
}

TEST(CloudMapDecode, DeeplyNestedJsonIsNotACrash) {
  std::string deep(100000, '[');
  EXPECT_EQ(err(decodeDiscoverInstances(200, deep)).kind, CloudMapError::Kind::not_json);
}

TEST(CloudMapDecodeRevision, ParsesRevision) {
  auto r = decodeDiscoverInstancesRevision(200, R"({"InstancesRevision":42})");
  ASSERT_TRUE(std::holds_alternative<int64_t>(r));
  EXPECT_EQ(std::get<int64_t>(r), 42);
  auto big = decodeDiscoverInstancesRevision(200, R"({"InstancesRevision":9223372036854775807})");
  EXPECT_EQ(std::get<int64_t>(big), 9223372036854775807LL);
}

TEST(CloudMapDecodeRevision, Errors) {
  auto kind = [](const DiscoverInstancesRevisionResult& r) { return std::get<CloudMapError>(r).kind; };
  EXPECT_EQ(kind(decodeDiscoverInstancesRevision(200, "nope")), CloudMapError::Kind::not_json);
  EXPECT_EQ(kind(decodeDiscoverInstancesRevision(200, R"({"InstancesRevision":"42"})")),
            CloudMapError::Kind::wrong_type);
  EXPECT_EQ(kind(decodeDiscoverInstancesRevision(200, R"({"InstancesRevision":18446744073709551615})")),
            CloudMapError::Kind::wrong_type);
  EXPECT_EQ(kind(decodeDiscoverInstancesRevision(200, "{}")), CloudMapError::Kind::missing_attribute);
  EXPECT_EQ(kind(decodeDiscoverInstancesRevision(400, R"({"__type":"RequestLimitExceeded"})")),
            CloudMapError::Kind::throttled);
}

}  // namespace
