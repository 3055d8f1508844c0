#include "discovery/registry/registry_api.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "discovery/aws/sigv4.h"

namespace hawser::discovery::registry {
namespace {
namespace json = boost::json;
using std::chrono::system_clock;

const system_clock::time_point kNow = system_clock::time_point(std::chrono::seconds(1700000000));

struct Reply {
  unsigned status;
  json::value body;
  std::string type;
};

class RegistryApiTest : public ::testing::Test {
 protected:
  RegistryOptions options() {
    RegistryOptions o;
    o.seed = 42;
    return o;
  }
  RegistryApi api{options()};

  RegistryRequest request(std::string_view op, const json::object& body) {
    RegistryRequest r;
    r.headers = {{"Host", "127.0.0.1:1"},
                 {"Content-Type", "application/x-amz-json-1.1"},
                 {"X-Amz-Target", std::string(kTargetPrefix) + std::string(op)}};
    r.body = json::serialize(body);
    return r;
  }
  Reply call(RegistryApi& a, std::string_view op, const json::object& body) {
    auto res = a.handle(request(op, body), kNow);
    return {res.status, res.body.empty() ? json::value() : json::parse(res.body), res.error_type};
  }
  Reply call(std::string_view op, const json::object& body) { return call(api, op, body); }

  // Namespace "ns.local" with service "web" (custom health); returns the service id.
  std::string setup(RegistryApi& a) {
    auto created = call(a, "CreateHttpNamespace", {{"Name", "ns.local"}});
    EXPECT_EQ(created.status, 200u);
    auto op = call(a, "GetOperation", {{"OperationId", created.body.at("OperationId")}});
    EXPECT_EQ(op.body.at("Operation").at("Status"), "SUCCESS");
    auto ns_id = op.body.at("Operation").at("Targets").at("NAMESPACE").as_string();
    auto svc = call(a, "CreateService",
                    {{"Name", "web"}, {"NamespaceId", ns_id}, {"HealthCheckCustomConfig", json::object{}}});
    EXPECT_EQ(svc.status, 200u);
    return std::string(svc.body.at("Service").at("Id").as_string());
  }
  void registerInstance(RegistryApi& a, const std::string& svc, std::string id, std::string ip, std::string port) {
    auto r = call(a, "RegisterInstance",
                  {{"ServiceId", svc},
                   {"InstanceId", id},
                   {"Attributes", {{"AWS_INSTANCE_IPV4", ip}, {"AWS_INSTANCE_PORT", port}}}});
    ASSERT_EQ(r.status, 200u) << json::serialize(r.body);
  }
  std::vector<std::string> discover(RegistryApi& a, json::object extra = {}) {
    json::object q{{"NamespaceName", "ns.local"}, {"ServiceName", "web"}};
    for (auto& [k, v] : extra) q[k] = v;
    auto r = call(a, "DiscoverInstances", q);
    EXPECT_EQ(r.status, 200u) << json::serialize(r.body);
    std::vector<std::string> ids;
    for (const auto& i : r.body.at("Instances").as_array()) ids.emplace_back(i.at("InstanceId").as_string());
    return ids;
  }
  int64_t revision(RegistryApi& a) {
    return call(a, "DiscoverInstancesRevision", {{"NamespaceName", "ns.local"}, {"ServiceName", "web"}})
        .body.at("InstancesRevision")
        .as_int64();
  }
};

TEST_F(RegistryApiTest, NamespaceCreationIsAnOperationWithTheNamespaceAsTarget) {
  auto created = call("CreateHttpNamespace", {{"Name", "a.local"}, {"Description", "d"}});
  ASSERT_EQ(created.status, 200u);
  auto op = call("GetOperation", {{"OperationId", created.body.at("OperationId")}});
  EXPECT_EQ(op.body.at("Operation").at("Type"), "CREATE_NAMESPACE");
  auto ns_id = op.body.at("Operation").at("Targets").at("NAMESPACE").as_string();
  auto list = call("ListNamespaces", {});
  ASSERT_EQ(list.body.at("Namespaces").as_array().size(), 1u);
  const auto& ns = list.body.at("Namespaces").at(0);
  EXPECT_EQ(ns.at("Id"), ns_id);
  EXPECT_EQ(ns.at("Type"), "HTTP");
  EXPECT_EQ(ns.at("Properties").at("HttpProperties").at("HttpName"), "a.local");
  EXPECT_TRUE(ns.at("Arn").as_string().ends_with("namespace/" + std::string(ns_id)));
}

TEST_F(RegistryApiTest, PrivateDnsNamespaceNeedsVpc) {
  EXPECT_EQ(call("CreatePrivateDnsNamespace", {{"Name", "p.local"}}).type, "InvalidInput");
  auto ok =
      call("CreatePrivateDnsNamespace",
           {{"Name", "p.local"}, {"Vpc", "vpc-1"}, {"Properties", {{"DnsProperties", {{"SOA", {{"TTL", 60}}}}}}}});
  ASSERT_EQ(ok.status, 200u);
  auto list =
      call("ListNamespaces", {{"Filters", json::array{json::object{{"Name", "TYPE"}, {"Values", {"DNS_PRIVATE"}}}}}});
  ASSERT_EQ(list.body.at("Namespaces").as_array().size(), 1u);
  EXPECT_EQ(list.body.at("Namespaces").at(0).at("Properties").at("DnsProperties").at("SOA").at("TTL"), 60);
}

TEST_F(RegistryApiTest, ErrorsCarryTypeStatusAndMessage) {
  auto svc = setup(api);
  struct Case {
    std::string op;
    json::object body;
    unsigned status;
    std::string type;
  };
  std::vector<Case> cases = {
      {"DiscoverInstances", {{"NamespaceName", "x"}, {"ServiceName", "web"}}, 404, "NamespaceNotFound"},
      {"DiscoverInstances", {{"NamespaceName", "ns.local"}, {"ServiceName", "x"}}, 404, "ServiceNotFound"},
      {"GetService", {{"Id", "srv-x"}}, 404, "ServiceNotFound"},
      {"DeregisterInstance", {{"ServiceId", svc}, {"InstanceId", "i-x"}}, 404, "InstanceNotFound"},
      {"GetOperation", {{"OperationId", "x"}}, 404, "OperationNotFound"},
      {"CreateHttpNamespace", {{"Name", "ns.local"}}, 409, "NamespaceAlreadyExists"},
      {"DiscoverInstances", {{"NamespaceName", 5}, {"ServiceName", "web"}}, 400, "InvalidInput"},
      {"DiscoverInstances",
       {{"NamespaceName", "ns.local"}, {"ServiceName", "web"}, {"MaxResults", 0}},
       400,
       "InvalidInput"},
      {"RegisterInstance", {{"ServiceId", svc}, {"InstanceId", "i-1"}}, 400, "InvalidInput"},
      {"RegisterInstance",
       {{"ServiceId", svc}, {"InstanceId", "bad id"}, {"Attributes", json::object{}}},
       400,
       "InvalidInput"},
      {"RegisterInstance",
       {{"ServiceId", svc}, {"InstanceId", "i-1"}, {"Attributes", {{"AWS_INSTANCE_IPV4", "1.2.3"}}}},
       400,
       "InvalidInput"},
      {"UpdateInstanceCustomHealthStatus",
       {{"ServiceId", svc}, {"InstanceId", "i-x"}, {"Status", "SICK"}},
       400,
       "InvalidInput"},
  };
  for (const auto& c : cases) {
    auto r = call(c.op, c.body);
    EXPECT_EQ(r.status, c.status) << c.op << " " << json::serialize(r.body);
    EXPECT_EQ(r.type, c.type) << c.op;
    EXPECT_EQ(r.body.at("__type").as_string(), c.type) << c.op;
    EXPECT_FALSE(r.body.at("message").as_string().empty()) << c.op;
  }
}

TEST_F(RegistryApiTest, MalformedRequestsAre400) {
  auto r = request("ListNamespaces", {});
  r.body = "{not json";
  EXPECT_EQ(api.handle(r, kNow).status, 400u);
  EXPECT_EQ(api.handle(r, kNow).error_type, "SerializationException");
  r.body = "[]";
  EXPECT_EQ(api.handle(r, kNow).status, 400u);
  auto unknown = request("NoSuchOperation", {});
  EXPECT_EQ(api.handle(unknown, kNow).error_type, "UnknownOperationException");
  auto no_target = request("ListNamespaces", {});
  no_target.headers.pop_back();
  EXPECT_EQ(api.handle(no_target, kNow).error_type, "UnknownOperationException");
  auto get = request("ListNamespaces", {});
  get.method = "GET";
  EXPECT_EQ(api.handle(get, kNow).status, 405u);
  // An empty body is an empty input.
  auto empty = request("ListNamespaces", {});
  empty.body.clear();
  EXPECT_EQ(api.handle(empty, kNow).status, 200u);
}

TEST_F(RegistryApiTest, RevisionMovesOnRegisterAndDeregisterOnly) {
  auto svc = setup(api);
  auto r0 = revision(api);
  registerInstance(api, svc, "i-1", "10.0.0.1", "80");
  registerInstance(api, svc, "i-2", "10.0.0.2", "80");
  EXPECT_EQ(revision(api), r0 + 2);
  auto upd =
      call("UpdateInstanceCustomHealthStatus", {{"ServiceId", svc}, {"InstanceId", "i-1"}, {"Status", "UNHEALTHY"}});
  EXPECT_EQ(upd.status, 200u);
  EXPECT_EQ(revision(api), r0 + 2);
  EXPECT_EQ(call("DeregisterInstance", {{"ServiceId", svc}, {"InstanceId", "i-2"}}).status, 200u);
  EXPECT_EQ(revision(api), r0 + 3);
  // Re-registering updates in place (and is a change).
  registerInstance(api, svc, "i-1", "10.0.0.9", "81");
  EXPECT_EQ(revision(api), r0 + 4);
  auto r = call("DiscoverInstances", {{"NamespaceName", "ns.local"}, {"ServiceName", "web"}, {"HealthStatus", "ALL"}});
  EXPECT_EQ(r.body.at("Instances").at(0).at("Attributes").at("AWS_INSTANCE_IPV4"), "10.0.0.9");
  EXPECT_EQ(r.body.at("Instances").at(0).at("HealthStatus"), "UNHEALTHY") << "health survives re-registration";
}

TEST_F(RegistryApiTest, HealthFiltersDefaultToHealthy) {
  auto svc = setup(api);
  registerInstance(api, svc, "i-1", "10.0.0.1", "80");
  registerInstance(api, svc, "i-2", "10.0.0.2", "80");
  EXPECT_EQ(discover(api), (std::vector<std::string>{"i-1", "i-2"}));
  call("UpdateInstanceCustomHealthStatus", {{"ServiceId", svc}, {"InstanceId", "i-1"}, {"Status", "UNHEALTHY"}});
  EXPECT_EQ(discover(api), (std::vector<std::string>{"i-2"}));
  EXPECT_EQ(discover(api, {{"HealthStatus", "UNHEALTHY"}}), (std::vector<std::string>{"i-1"}));
  EXPECT_EQ(discover(api, {{"HealthStatus", "ALL"}}), (std::vector<std::string>{"i-1", "i-2"}));
  EXPECT_EQ(discover(api, {{"HealthStatus", "HEALTHY_OR_ELSE_ALL"}}), (std::vector<std::string>{"i-2"}));
  call("UpdateInstanceCustomHealthStatus", {{"ServiceId", svc}, {"InstanceId", "i-2"}, {"Status", "UNHEALTHY"}});
  EXPECT_EQ(discover(api, {{"HealthStatus", "HEALTHY_OR_ELSE_ALL"}}), (std::vector<std::string>{"i-1", "i-2"}));
  auto status = call("GetInstancesHealthStatus", {{"ServiceId", svc}});
  EXPECT_EQ(status.body.at("Status").at("i-1"), "UNHEALTHY");
  EXPECT_EQ(call("GetInstancesHealthStatus", {{"ServiceId", svc}, {"Instances", {"i-x"}}}).type, "InstanceNotFound");
}

TEST_F(RegistryApiTest, CustomHealthNeedsACustomHealthCheck) {
  auto created = call("CreateHttpNamespace", {{"Name", "plain.local"}});
  auto op = call("GetOperation", {{"OperationId", created.body.at("OperationId")}});
  auto ns_id = op.body.at("Operation").at("Targets").at("NAMESPACE");
  auto svc = call("CreateService", {{"Name", "s"}, {"NamespaceId", ns_id}}).body.at("Service").at("Id");
  call("RegisterInstance",
       {{"ServiceId", svc}, {"InstanceId", "i-1"}, {"Attributes", {{"AWS_INSTANCE_IPV4", "10.0.0.1"}}}});
  auto r =
      call("UpdateInstanceCustomHealthStatus", {{"ServiceId", svc}, {"InstanceId", "i-1"}, {"Status", "UNHEALTHY"}});
  EXPECT_EQ(r.type, "CustomHealthNotFound");
}

TEST_F(RegistryApiTest, QueryAndOptionalParametersAndAttributesAsGiven) {
  auto svc = setup(api);
  call("RegisterInstance",
       {{"ServiceId", svc},
        {"InstanceId", "a"},
        {"Attributes",
         {{"AWS_INSTANCE_IPV4", "10.0.0.1"}, {"AWS_INSTANCE_PORT", "80"}, {"version", "v1"}, {"zone", "a"}}}});
  call("RegisterInstance",
       {{"ServiceId", svc},
        {"InstanceId", "b"},
        {"Attributes",
         {{"AWS_INSTANCE_IPV4", "10.0.0.2"}, {"AWS_INSTANCE_PORT", "80"}, {"version", "v2"}, {"zone", "b"}}}});
  EXPECT_EQ(discover(api, {{"QueryParameters", {{"version", "v2"}}}}), (std::vector<std::string>{"b"}));
  EXPECT_EQ(discover(api, {{"OptionalParameters", {{"zone", "a"}}}}), (std::vector<std::string>{"a"}));
  EXPECT_EQ(discover(api, {{"OptionalParameters", {{"zone", "c"}}}}), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(discover(api, {{"MaxResults", 1}}), (std::vector<std::string>{"a"}));
  auto r = call("DiscoverInstances", {{"NamespaceName", "ns.local"}, {"ServiceName", "web"}});
  const auto& inst = r.body.at("Instances").at(0);
  EXPECT_EQ(inst.at("NamespaceName"), "ns.local");
  EXPECT_EQ(inst.at("ServiceName"), "web");
  EXPECT_EQ(inst.at("Attributes").as_object().size(), 4u);
  EXPECT_EQ(inst.at("Attributes").at("version"), "v1");
}

TEST_F(RegistryApiTest, CreatorRequestIdMakesRetriesIdempotentAndReuseADuplicate) {
  auto a = call("CreateHttpNamespace", {{"Name", "a.local"}, {"CreatorRequestId", "r1"}});
  auto again = call("CreateHttpNamespace", {{"Name", "a.local"}, {"CreatorRequestId", "r1"}});
  EXPECT_EQ(again.status, 200u);
  EXPECT_EQ(again.body.at("OperationId"), a.body.at("OperationId"));
  auto dup = call("CreateHttpNamespace", {{"Name", "b.local"}, {"CreatorRequestId", "r1"}});
  EXPECT_EQ(dup.status, 409u);
  EXPECT_EQ(dup.type, "DuplicateRequest");
  EXPECT_EQ(dup.body.at("DuplicateOperationId"), a.body.at("OperationId"));
}

TEST_F(RegistryApiTest, ResourceInUseAndListings) {
  auto svc = setup(api);
  registerInstance(api, svc, "i-1", "10.0.0.1", "80");
  auto ns_id = call("GetService", {{"Id", svc}}).body.at("Service").at("NamespaceId");
  EXPECT_EQ(call("DeleteService", {{"Id", svc}}).type, "ResourceInUse");
  EXPECT_EQ(call("DeleteService", {{"Id", svc}}).status, 409u);
  EXPECT_EQ(call("DeleteNamespace", {{"Id", ns_id}}).type, "ResourceInUse");
  auto list = call("ListServices",
                   {{"Filters", json::array{json::object{{"Name", "NAMESPACE_ID"}, {"Values", json::array{ns_id}}}}}});
  ASSERT_EQ(list.body.at("Services").as_array().size(), 1u);
  EXPECT_EQ(list.body.at("Services").at(0).at("InstanceCount"), 1);
  // The ARN works wherever an id does.
  auto arn = call("GetService", {{"Id", svc}}).body.at("Service").at("Arn");
  EXPECT_EQ(call("GetService", {{"Id", arn}}).status, 200u);
}

TEST_F(RegistryApiTest, PaginationWithNextToken) {
  for (int i = 0; i < 5; ++i) call("CreateHttpNamespace", {{"Name", "n" + std::to_string(i) + ".local"}});
  auto first = call("ListNamespaces", {{"MaxResults", 2}});
  EXPECT_EQ(first.body.at("Namespaces").as_array().size(), 2u);
  std::vector<std::string> names;
  json::value token = first.body.at("NextToken");
  for (auto& n : first.body.at("Namespaces").as_array()) names.emplace_back(n.at("Name").as_string());
  while (!token.is_null()) {
    auto page = call("ListNamespaces", {{"MaxResults", 2}, {"NextToken", token}});
    for (auto& n : page.body.at("Namespaces").as_array()) names.emplace_back(n.at("Name").as_string());
    auto* next = page.body.as_object().if_contains("NextToken");
    token = next ? *next : json::value();
  }
  EXPECT_EQ(names.size(), 5u);
}

TEST_F(RegistryApiTest, StateRoundTripsThroughJson) {
  auto svc = setup(api);
  registerInstance(api, svc, "i-1", "10.0.0.1", "80");
  call("UpdateInstanceCustomHealthStatus", {{"ServiceId", svc}, {"InstanceId", "i-1"}, {"Status", "UNHEALTHY"}});
  auto restored_state = stateFromJson(json::parse(json::serialize(toJson(api.state()))));
  RegistryApi restored(options(), std::move(restored_state));
  EXPECT_EQ(discover(restored, {{"HealthStatus", "UNHEALTHY"}}), (std::vector<std::string>{"i-1"}));
  EXPECT_EQ(revision(restored), revision(api));
  EXPECT_THROW(stateFromJson(json::parse(R"({"Services":[{"Id":"s","Name":"x","NamespaceId":"missing"}]})")),
               std::runtime_error);
}

TEST_F(RegistryApiTest, MutationsAreFlaggedForPersistence) {
  auto r = api.handle(request("CreateHttpNamespace", {{"Name", "m.local"}}), kNow);
  EXPECT_TRUE(r.mutated);
  EXPECT_FALSE(api.handle(request("ListNamespaces", {}), kNow).mutated);
  EXPECT_FALSE(api.handle(request("CreateHttpNamespace", {{"Name", "m.local"}}), kNow).mutated);
}

// SigV4 ----------------------------------------------------------------------

class RegistrySigV4Test : public RegistryApiTest {
 protected:
  aws::Credentials creds{"AKIDEXAMPLE", "secret", "", std::nullopt, std::nullopt};
  RegistryOptions signedOptions() {
    auto o = options();
    o.credentials = creds;
    return o;
  }
  RegistryApi secured{signedOptions()};

  RegistryRequest signedRequest(std::string_view op, const aws::Credentials& with,
                                system_clock::time_point when = kNow) {
    auto r = request(op, {});
    aws::SigningParams params;
    params.region = "us-east-1";
    params.service = "servicediscovery";
    params.amz_date = aws::formatAmzDate(when);
    auto s = aws::signRequest({"POST", "/", r.headers, aws::sha256Hex(r.body)}, with, params);
    for (auto& h : s.headers_to_add) r.headers.push_back(h);
    return r;
  }
};

TEST_F(RegistrySigV4Test, AcceptsValidSignaturesWithOrWithoutSessionToken) {
  auto r = secured.handle(signedRequest("ListNamespaces", creds), kNow);
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.access_key, "AKIDEXAMPLE");
  EXPECT_FALSE(r.has_session_token);
  auto with_token = creds;
  with_token.session_token = "tok";
  auto t = secured.handle(signedRequest("ListNamespaces", with_token), kNow);
  EXPECT_EQ(t.status, 200u);
  EXPECT_TRUE(t.has_session_token);
}

TEST_F(RegistrySigV4Test, RejectsBadSignatures) {
  auto wrong = creds;
  wrong.secret_key = "nope";
  auto r = secured.handle(signedRequest("ListNamespaces", wrong), kNow);
  EXPECT_EQ(r.status, 403u);
  EXPECT_EQ(r.error_type, "InvalidSignatureException");
  auto unknown = creds;
  unknown.access_key = "AKIDOTHER";
  EXPECT_EQ(secured.handle(signedRequest("ListNamespaces", unknown), kNow).error_type, "UnrecognizedClientException");
  auto unsigned_request = request("ListNamespaces", {});
  EXPECT_EQ(secured.handle(unsigned_request, kNow).status, 403u);
  auto old = secured.handle(signedRequest("ListNamespaces", creds, kNow - std::chrono::hours(1)), kNow);
  EXPECT_EQ(old.error_type, "InvalidSignatureException");
  auto tampered = signedRequest("ListNamespaces", creds);
  tampered.body = R"({"MaxResults":1})";
  EXPECT_EQ(secured.handle(tampered, kNow).error_type, "InvalidSignatureException");
  // Unsigned headers may be added in transit.
  auto extra = signedRequest("ListNamespaces", creds);
  extra.headers.emplace_back("X-Forwarded-For", "1.2.3.4");
  EXPECT_EQ(secured.handle(extra, kNow).status, 200u);
}

TEST(RegistryRateLimit, ThrottlesWithRequestLimitExceeded) {
  RegistryOptions o;
  o.rate_limit_rps = 1;
  o.rate_limit_burst = 2;
  RegistryApi api(o);
  RegistryRequest r;
  r.headers = {{"X-Amz-Target", std::string(kTargetPrefix) + "ListNamespaces"}};
  EXPECT_EQ(api.handle(r, kNow).status, 200u);
  EXPECT_EQ(api.handle(r, kNow).status, 200u);
  auto limited = api.handle(r, kNow);
  EXPECT_EQ(limited.status, 429u);
  EXPECT_EQ(limited.error_type, "RequestLimitExceeded");
  EXPECT_EQ(api.handle(r, kNow + std::chrono::seconds(2)).status, 200u);
}

}  // namespace
}  // namespace hawser::discovery::registry
