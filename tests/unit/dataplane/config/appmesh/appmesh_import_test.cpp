// The App Mesh -> hawser mapping, field by field (dataplane/config/appmesh/).
// Every generated configuration must also pass the config loader.
#include "dataplane/config/appmesh/appmesh_import.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "dataplane/config/config.h"

namespace hawser::config::appmesh {
namespace {

const char* kMesh = R"({"mesh": {"meshName": "m", "spec": {"egressFilter": {"type": "DROP_ALL"}}}})";

std::string node(const std::string& name, const std::string& spec) {
  return R"({"virtualNode": {"meshName": "m", "virtualNodeName": ")" + name +
         R"(", "metadata": {"arn": "arn:aws:appmesh:eu-west-1:111122223333:mesh/m/virtualNode/)" + name +
         R"("}, "spec": )" + spec + "}}";
}

const std::string kCaller = node("caller", R"({
  "backends": [{"virtualService": {"virtualServiceName": "svc.m.local"}}],
  "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
  "serviceDiscovery": {"dns": {"hostname": "caller.m.local"}}})");

std::string cloudMapNode(const std::string& name, const std::string& service, const std::string& version) {
  return node(name, R"({"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
    "serviceDiscovery": {"awsCloudMap": {"namespaceName": "m.local", "serviceName": ")" +
                        service + R"(", "attributes": [{"key": "version", "value": ")" + version + R"("}]}}})");
}

std::string routerService() {
  return R"({"virtualService": {"meshName": "m", "virtualServiceName": "svc.m.local",
             "spec": {"provider": {"virtualRouter": {"virtualRouterName": "r"}}}}})";
}

std::string router() {
  return R"({"virtualRouter": {"meshName": "m", "virtualRouterName": "r",
             "spec": {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]}}})";
}

std::string route(const std::string& name, const std::string& http_route) {
  return R"({"route": {"meshName": "m", "routeName": ")" + name + R"(", "virtualRouterName": "r",
             "spec": {"httpRoute": )" +
         http_route + "}}}";
}

std::string twoTargets() {
  return R"({"action": {"weightedTargets": [{"virtualNode": "v1", "weight": 90}, {"virtualNode": "v2", "weight": 10}]},
             "match": {"prefix": "/"}})";
}

struct Imported {
  ImportResult result;
  YAML::Node cfg;

  bool reported(const std::string& path_suffix, const std::string& message_part) const {
    for (const auto& f : result.findings) {
      if (!f.note && f.path.size() >= path_suffix.size() &&
          f.path.compare(f.path.size() - path_suffix.size(), path_suffix.size(), path_suffix) == 0 &&
          f.message.find(message_part) != std::string::npos)
        return true;
    }
    return false;
  }
  std::string findings() const {
    std::string out;
    for (const auto& f : result.findings) out += f.source + ": " + f.path + ": " + f.message + "\n";
    return out;
  }
};

Imported run(const std::vector<std::string>& docs, const std::string& virtual_node = "caller",
             ImportOptions options = {}) {
  std::vector<InputDocument> in;
  for (size_t i = 0; i < docs.size(); ++i) in.push_back({"doc" + std::to_string(i) + ".json", docs[i]});
  options.virtual_node = virtual_node;
  auto outcome = importAppMesh(in, options);
  if (auto* e = std::get_if<InputError>(&outcome)) {
    ADD_FAILURE() << "input error: " << e->source << ": " << e->path << ": " << e->message;
    return {};
  }
  Imported out{std::get<ImportResult>(outcome), {}};
  EXPECT_NO_THROW(loadText(out.result.yaml, "generated")) << out.result.yaml;
  out.cfg = YAML::Load(out.result.yaml);
  return out;
}

InputError runError(const std::vector<std::string>& docs, const std::string& virtual_node = "caller") {
  std::vector<InputDocument> in;
  for (size_t i = 0; i < docs.size(); ++i) in.push_back({"doc" + std::to_string(i) + ".json", docs[i]});
  ImportOptions options;
  options.virtual_node = virtual_node;
  auto outcome = importAppMesh(in, options);
  EXPECT_TRUE(std::holds_alternative<InputError>(outcome));
  if (auto* e = std::get_if<InputError>(&outcome)) return *e;
  return {};
}

TEST(AppMeshImport, WeightedTargetsInOneCloudMapServiceBecomeASplitBySubset) {
  auto r = run({kCaller, routerService(), router(), route("canary", twoTargets()), cloudMapNode("v1", "svc", "v1"),
                cloudMapNode("v2", "svc", "v2"), kMesh});
  EXPECT_EQ(r.result.unmapped, 0u) << r.findings();
  auto svc = r.cfg["outbound"]["services"][0];
  EXPECT_EQ(svc["name"].as<std::string>(), "svc.m.local");
  EXPECT_EQ(svc["discovery"]["cloudmap"]["namespace"].as<std::string>(), "m.local");
  EXPECT_EQ(svc["discovery"]["cloudmap"]["service"].as<std::string>(), "svc");
  EXPECT_FALSE(svc["discovery"]["cloudmap"]["query"]);
  auto split = svc["routes"][0]["split"];
  ASSERT_EQ(split.size(), 2u);
  EXPECT_EQ(split[0]["subset"]["version"].as<std::string>(), "v1");
  EXPECT_EQ(split[0]["weight"].as<int>(), 90);
  EXPECT_EQ(split[1]["name"].as<std::string>(), "v2");
  EXPECT_EQ(r.cfg["discovery"]["cloudmap"]["region"].as<std::string>(), "eu-west-1");  // from the ARN
  EXPECT_FALSE(r.cfg["outbound"]["passthrough"].as<bool>());                           // DROP_ALL
  EXPECT_EQ(svc["tls"]["mode"].as<std::string>(), "disabled");  // no client policy: App Mesh sent plaintext
  EXPECT_EQ(r.cfg["inbound"][0]["tls"]["mode"].as<std::string>(), "disabled");
  EXPECT_EQ(r.cfg["telemetry"]["access_log"]["path"].as<std::string>(), "off");  // no logging block
}

TEST(AppMeshImport, TargetsInDifferentCloudMapServicesCannotBeSplit) {
  auto r = run({kCaller, routerService(), router(), route("canary", twoTargets()), cloudMapNode("v1", "svc-a", "v1"),
                cloudMapNode("v2", "svc-b", "v2")});
  EXPECT_TRUE(r.reported("route.spec.httpRoute.action.weightedTargets", "cannot split")) << r.findings();
  EXPECT_FALSE(r.cfg["outbound"]["services"][0]["routes"][0]["split"]);
}

TEST(AppMeshImport, RetryPolicyEventsAndAttempts) {
  auto r = run({kCaller, routerService(), router(),
                route("retry", R"({"action": {"weightedTargets": [{"virtualNode": "v1", "weight": 1}]},
                  "match": {"prefix": "/pay"},
                  "retryPolicy": {"maxRetries": 12, "perRetryTimeout": {"unit": "ms", "value": 1500},
                    "httpRetryEvents": ["server-error", "gateway-error", "client-error", "stream-error"],
                    "tcpRetryEvents": ["connection-error"]},
                  "timeout": {"perRequest": {"unit": "s", "value": 3}, "idle": {"unit": "s", "value": 0}}})"),
                cloudMapNode("v1", "svc", "v1")});
  auto route0 = r.cfg["outbound"]["services"][0]["routes"][0];
  EXPECT_EQ(route0["match"]["prefix"].as<std::string>(), "/pay");
  EXPECT_EQ(route0["retry"]["attempts"].as<int>(), 10);
  EXPECT_EQ(route0["retry"]["per_try_timeout"].as<std::string>(), "1500ms");
  EXPECT_EQ(
      route0["retry"]["on"].as<std::vector<std::string>>(),
      (std::vector<std::string>{"server-error", "gateway-error", "reset", "retriable-status:409", "connect-failure"}));
  EXPECT_TRUE(route0["retry"]["allow_non_idempotent"].as<bool>());
  EXPECT_EQ(route0["timeouts"]["request"].as<std::string>(), "3s");
  EXPECT_FALSE(route0["timeouts"]["idle"]);
  EXPECT_FALSE(route0["split"]);  // one target node: every endpoint of the service
  EXPECT_EQ(r.cfg["outbound"]["services"][0]["discovery"]["cloudmap"]["query"]["version"].as<std::string>(), "v1");
  EXPECT_TRUE(r.reported("retryPolicy.maxRetries", "at most 10 attempts"));
  EXPECT_TRUE(r.reported("retryPolicy.httpRetryEvents[3]", "no HTTP/2"));
  EXPECT_TRUE(r.reported("timeout.idle", "closes idle connections at once"));
  EXPECT_EQ(r.result.unmapped, 3u) << r.findings();
}

TEST(AppMeshImport, ExactHeaderMatchesMapAndOtherMatchesLeaveTheRouteOut) {
  auto r = run({kCaller, routerService(), router(),
                route("qa", R"({"action": {"weightedTargets": [{"virtualNode": "v1", "weight": 1}]},
                  "match": {"prefix": "/", "headers": [{"name": "X-Team", "match": {"exact": "qa"}}]}})"),
                route("beta", R"({"action": {"weightedTargets": [{"virtualNode": "v1", "weight": 1}]},
                  "match": {"prefix": "/", "headers": [{"name": "x-beta", "match": {"prefix": "yes"}}]}})"),
                route("exact", R"({"action": {"weightedTargets": [{"virtualNode": "v1", "weight": 1}]},
                  "match": {"path": {"exact": "/only"}}})"),
                cloudMapNode("v1", "svc", "v1")});
  auto routes = r.cfg["outbound"]["services"][0]["routes"];
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(routes[0]["match"]["headers"]["x-team"].as<std::string>(), "qa");
  EXPECT_TRUE(r.reported("match.headers[0]", "exact value only")) << r.findings();
  EXPECT_TRUE(r.reported("match.path", "prefix only"));
}

TEST(AppMeshImport, RoutesFollowPriority) {
  auto mk = [](const char* prefix) {
    return std::string(
               R"({"action": {"weightedTargets": [{"virtualNode": "v1", "weight": 1}]}, "match": {"prefix": ")") +
           prefix + "\"}}";
  };
  auto withPriority = [](std::string doc, int p) {
    return doc.replace(doc.find("\"spec\": {"), 9, "\"spec\": {\"priority\": " + std::to_string(p) + ", ");
  };
  auto r = run({kCaller, routerService(), router(), withPriority(route("a", mk("/a")), 20),
                withPriority(route("b", mk("/b")), 5), route("c", mk("/")), route("d", mk("/dd")),
                cloudMapNode("v1", "svc", "v1")});
  auto routes = r.cfg["outbound"]["services"][0]["routes"];
  ASSERT_EQ(routes.size(), 4u);
  std::vector<std::string> order;
  for (const auto& x : routes) order.push_back(x["match"]["prefix"].as<std::string>());
  EXPECT_EQ(order, (std::vector<std::string>{"/b", "/a", "/dd", "/"}));
}

TEST(AppMeshImport, ListenerTlsHealthCheckAndOutlierDetection) {
  auto target = node("v1", R"({
    "listeners": [{"portMapping": {"port": 9000, "protocol": "http"},
      "healthCheck": {"protocol": "http", "path": "/hc", "intervalMillis": 5000, "timeoutMillis": 6000,
                      "healthyThreshold": 2, "unhealthyThreshold": 4, "port": 9000},
      "outlierDetection": {"maxServerErrors": 3, "interval": {"unit": "s", "value": 5},
                           "baseEjectionDuration": {"unit": "ms", "value": 500}, "maxEjectionPercent": 20}}],
    "serviceDiscovery": {"dns": {"hostname": "v1.m.local", "responseType": "ENDPOINTS"}}})");
  auto caller = node("caller", R"({
    "backendDefaults": {"clientPolicy": {"tls": {"certificate": {"file": {"certificateChain": "/c.pem", "privateKey": "/k.pem"}},
      "validation": {"trust": {"file": {"certificateChain": "/ca.pem"}}}}}},
    "backends": [{"virtualService": {"virtualServiceName": "svc.m.local"}}],
    "listeners": [{"portMapping": {"port": 8080, "protocol": "http"},
      "tls": {"mode": "PERMISSIVE", "certificate": {"file": {"certificateChain": "/c.pem", "privateKey": "/k.pem"}},
              "validation": {"trust": {"file": {"certificateChain": "/other-ca.pem"}},
                             "subjectAlternativeNames": {"match": {"exact": ["spiffe://m/a", "spiffe://m/b"]}}}},
      "timeout": {"http": {"perRequest": {"unit": "s", "value": 0}, "idle": {"unit": "s", "value": 90}}}}]})");
  auto service = R"({"virtualService": {"meshName": "m", "virtualServiceName": "svc.m.local",
                      "spec": {"provider": {"virtualNode": {"virtualNodeName": "v1"}}}}})";
  auto r = run({caller, service, target});
  auto in = r.cfg["inbound"][0];
  EXPECT_EQ(in["tls"]["mode"].as<std::string>(), "permissive");
  EXPECT_EQ(in["authorization"]["allow"].as<std::vector<std::string>>(),
            (std::vector<std::string>{"spiffe://m/a", "spiffe://m/b"}));
  EXPECT_EQ(in["timeouts"]["request"].as<std::string>(), "0s");  // App Mesh's 0 disables it, as hawser's does
  EXPECT_EQ(in["timeouts"]["idle"].as<std::string>(), "90s");
  EXPECT_EQ(r.cfg["tls"]["cert"].as<std::string>(), "/c.pem");
  EXPECT_EQ(r.cfg["tls"]["ca"].as<std::string>(), "/other-ca.pem");  // the listener's, read first
  EXPECT_TRUE(r.reported("backendDefaults.clientPolicy.tls.validation.trust.file.certificateChain", "one tls.ca"))
      << r.findings();
  auto svc = r.cfg["outbound"]["services"][0];
  EXPECT_EQ(svc["discovery"]["dns"]["a"].as<std::string>(), "v1.m.local");
  EXPECT_EQ(svc["discovery"]["dns"]["port"].as<int>(), kFirstInboundPort);
  EXPECT_EQ(svc["tls"]["sans"].as<std::vector<std::string>>(), std::vector<std::string>{"*"});
  EXPECT_EQ(svc["health_check"]["path"].as<std::string>(), "/hc");
  EXPECT_EQ(svc["health_check"]["timeout"].as<std::string>(), "5s");  // capped at the interval
  EXPECT_TRUE(r.reported("healthCheck.timeoutMillis", "may not exceed interval"));
  EXPECT_EQ(svc["health_check"]["unhealthy"].as<int>(), 4);
  EXPECT_EQ(svc["outlier_detection"]["consecutive_5xx"].as<int>(), 3);
  EXPECT_EQ(svc["outlier_detection"]["consecutive_gateway_errors"].as<int>(), 0);
  EXPECT_EQ(svc["outlier_detection"]["base_ejection"].as<std::string>(), "500ms");
  EXPECT_EQ(svc["outlier_detection"]["max_ejection_percent"].as<int>(), 20);
  EXPECT_EQ(r.result.unmapped, 2u) << r.findings();
}

TEST(AppMeshImport, UnsupportedFieldsAreReportedNeverDropped) {
  auto caller = node("caller", R"({
    "listeners": [{"portMapping": {"port": 50051, "protocol": "grpc"},
                   "connectionPool": {"grpc": {"maxRequests": 10}},
                   "timeout": {"grpc": {"perRequest": {"unit": "s", "value": 1}}},
                   "tls": {"mode": "STRICT", "certificate": {"acm": {"certificateArn": "arn:aws:acm:x"}}}}],
    "logging": {"accessLog": {"file": {"path": "/var/log/access.log", "format": {"text": "%START_TIME%"}}}},
    "futureField": {"enabled": true}})");
  auto r = run({caller});
  EXPECT_EQ(r.cfg["inbound"][0]["protocol"].as<std::string>(), "tcp");
  EXPECT_EQ(r.cfg["telemetry"]["access_log"]["path"].as<std::string>(), "/var/log/access.log");
  EXPECT_EQ(r.cfg["tls"]["cert"].as<std::string>(), "/etc/hawser/tls/cert.pem");  // a placeholder, reported
  EXPECT_TRUE(r.reported("listeners[0].portMapping.protocol", "no HTTP/2")) << r.findings();
  EXPECT_TRUE(r.reported("listeners[0].connectionPool.grpc", "no HTTP/2"));
  EXPECT_TRUE(r.reported("listeners[0].timeout.grpc", "no HTTP/2"));
  EXPECT_TRUE(r.reported("listeners[0].tls.certificate.acm", "reads its certificate from files"));
  EXPECT_TRUE(r.reported("virtualNode.spec", "tls.cert"));
  EXPECT_TRUE(r.reported("logging.accessLog.file.format", "fixed fields"));
  EXPECT_TRUE(r.reported("spec.futureField.enabled", "does not know this App Mesh field"));
}

TEST(AppMeshImport, MissingDescriptionsAreReported) {
  auto list = R"({"routes": [{"meshName": "m", "routeName": "gone", "virtualRouterName": "r"}]})";
  auto r = run({kCaller, routerService(), router(), list});
  EXPECT_TRUE(r.reported("provider.virtualRouter", "\"gone\" of r is listed by list-routes")) << r.findings();
  auto svc = r.cfg["outbound"]["services"][0];
  EXPECT_EQ(svc["discovery"]["dns"]["a"].as<std::string>(), "svc.m.local");

  auto lone = run({kCaller});
  EXPECT_TRUE(lone.reported("backends[0].virtualService.virtualServiceName", "no describe-virtual-service"));
}

TEST(AppMeshImport, XrayTracingFromTheEnvironment) {
  ImportOptions o;
  o.xray_tracing = true;
  o.xray_sampling_rate = 0.25;
  auto r = run({kCaller}, "mesh/m/virtualNode/caller", o);
  auto otlp = r.cfg["telemetry"]["tracing"]["otlp"];
  EXPECT_EQ(otlp["endpoint"].as<std::string>(), kXrayCollector);
  EXPECT_EQ(otlp["propagation"].as<std::vector<std::string>>(), (std::vector<std::string>{"xray", "w3c"}));
  EXPECT_DOUBLE_EQ(otlp["sample_ratio"].as<double>(), 0.25);
}

TEST(AppMeshImport, InputErrorsNameTheFileAndPath) {
  auto e = runError({node("caller", R"({"listeners": [{"portMapping": {"port": "80"}}]})")});
  EXPECT_EQ(e.source, "doc0.json");
  EXPECT_EQ(e.path, "virtualNode.spec.listeners[0].portMapping.port");
  EXPECT_NE(e.message.find("expected a whole number"), std::string::npos);

  e = runError({R"({"virtualNodez": {}})"});
  EXPECT_EQ(e.path, "virtualNodez");
  e = runError({"[1, 2"});
  EXPECT_EQ(e.path, "(document)");
  e = runError({kCaller}, "mesh/other/virtualNode/caller");
  EXPECT_NE(e.message.find("not described"), std::string::npos);
  e = runError({kCaller, kCaller});
  EXPECT_NE(e.message.find("described twice"), std::string::npos);
}

// Found by tests/fuzz/appmesh_import: a target node whose awsCloudMap had no serviceName gave a
// service with `cloudmap: {service: ""}`, which the config loader refuses (import exited 1).
TEST(AppMeshImport, DiscoveryWithoutItsNamesIsAnInputError) {
  auto without = [](const std::string& discovery) {
    return node("v1", R"({"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
      "serviceDiscovery": )" +
                          discovery + "}");
  };
  const std::vector<std::string> routing = {kCaller, routerService(), router(),
                                            route("all", R"({"action": {"weightedTargets": [{"virtualNode": "v1",
                                                 "weight": 1}]}, "match": {"prefix": "/"}})")};
  struct Case {
    std::string discovery, path, message;
  };
  for (const auto& c : std::vector<Case>{
           {R"({"awsCloudMap": {"namespaceName": "m.local"}})", "awsCloudMap.serviceName", "required key is missing"},
           {R"({"awsCloudMap": {"namespaceName": "m.local", "serviceName": ""}})", "awsCloudMap.serviceName",
            "must not be empty"},
           {R"({"awsCloudMap": {"serviceName": "svc"}})", "awsCloudMap.namespaceName", "required key is missing"},
           {R"({"dns": {"hostname": ""}})", "dns.hostname", "must not be empty"},
           {R"({"dns": {}})", "dns.hostname", "required key is missing"},
       }) {
    auto docs = routing;
    docs.push_back(without(c.discovery));
    auto e = runError(docs);
    EXPECT_EQ(e.path, "virtualNode.spec.serviceDiscovery." + c.path) << c.discovery;
    EXPECT_NE(e.message.find(c.message), std::string::npos) << c.discovery << ": " << e.message;
  }
  // With the names, the same documents import.
  auto docs = routing;
  docs.push_back(without(R"({"dns": {"hostname": "v1.m.local"}})"));
  auto ok = run(docs);
  EXPECT_TRUE(ok.cfg["outbound"]["services"]) << ok.result.yaml;
}

// Found by tests/fuzz/appmesh_import: a listener's tls in STRICT (or PERMISSIVE) mode without a
// certificate file gave an inbound tls.mode strict with no top-level tls, which does not load.
TEST(AppMeshImport, ListenerTlsWithoutCertificateFilesGetsThePlaceholders) {
  for (const char* mode : {"STRICT", "PERMISSIVE"}) {
    auto imported = run({node("caller", std::string(
                                            R"({"listeners": [{"portMapping": {"port": 8080, "protocol": "http"},
        "tls": {"mode": ")") + mode + R"("}}], "serviceDiscovery": {"dns": {"hostname": "caller.m.local"}}})")});
    EXPECT_EQ(imported.cfg["tls"]["cert"].as<std::string>(""), "/etc/hawser/tls/cert.pem") << imported.result.yaml;
    EXPECT_EQ(imported.cfg["tls"]["ca"].as<std::string>(""), "/etc/hawser/tls/ca.pem");
    EXPECT_TRUE(imported.reported("virtualNode.spec", "placeholder")) << imported.findings();
  }
}

// Found by tests/fuzz/appmesh_import: an httpRoute on a router whose listener is tcp gave a
// protocol: tcp service with routes, which the config loader refuses.
TEST(AppMeshImport, HttpRoutesOfATcpRouterAreReportedAndLeftOut) {
  std::string tcp_router = R"({"virtualRouter": {"meshName": "m", "virtualRouterName": "r",
             "spec": {"listeners": [{"portMapping": {"port": 8080, "protocol": "tcp"}}]}}})";
  auto imported = run({kCaller, routerService(), tcp_router, route("all", twoTargets()), cloudMapNode("v1", "svc", "1"),
                       cloudMapNode("v2", "svc", "2")});
  auto svc = imported.cfg["outbound"]["services"][0];
  EXPECT_EQ(svc["protocol"].as<std::string>(""), "tcp") << imported.result.yaml;
  EXPECT_FALSE(svc["routes"]) << imported.result.yaml;
  EXPECT_TRUE(imported.reported("route.spec.httpRoute.action.weightedTargets", "proxied as protocol: tcp"))
      << imported.findings();
}

// Found by tests/fuzz/appmesh_import: an exact SAN holding '*' became an allow pattern the loader
// refuses ('*' in the middle); at the end it would have widened the match.
TEST(AppMeshImport, ExactSansWithAStarAreLeftOutNeverWidened) {
  auto listener = [](const std::string& sans) {
    return node("caller",
                R"({"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}, "tls": {"mode": "STRICT",
        "certificate": {"file": {"certificateChain": "/c.pem", "privateKey": "/k.pem"}},
        "validation": {"trust": {"file": {"certificateChain": "/ca.pem"}},
                       "subjectAlternativeNames": {"match": {"exact": )" +
                    sans + R"(}}}}}], "serviceDiscovery": {"dns": {"hostname": "caller.m.local"}}})");
  };
  auto some = run({listener(R"(["spiffe://m/a*b", "spiffe://m/c", "spiffe://m/*"])")});
  auto allow = some.cfg["inbound"][0]["authorization"]["allow"];
  ASSERT_EQ(allow.size(), 1u) << some.result.yaml;
  EXPECT_EQ(allow[0].as<std::string>(), "spiffe://m/c");
  EXPECT_TRUE(some.reported("subjectAlternativeNames.match.exact", "left out")) << some.findings();
  auto none = run({listener(R"(["spiffe://m/*"])")});
  allow = none.cfg["inbound"][0]["authorization"]["allow"];
  ASSERT_EQ(allow.size(), 1u) << none.result.yaml;
  EXPECT_EQ(allow[0].as<std::string>(), kNoCaller);
  EXPECT_TRUE(none.reported("subjectAlternativeNames.match.exact", "no caller is allowed")) << none.findings();
}

TEST(AppMeshImport, VirtualNodeNames) {
  std::string mesh, name;
  EXPECT_TRUE(parseVirtualNodeName("mesh/shop/virtualNode/checkout", mesh, name));
  EXPECT_EQ(mesh, "shop");
  EXPECT_EQ(name, "checkout");
  EXPECT_TRUE(parseVirtualNodeName("checkout", mesh, name));
  EXPECT_EQ(mesh, "");
  EXPECT_FALSE(parseVirtualNodeName("mesh/shop/virtualRouter/r", mesh, name));
  EXPECT_FALSE(parseVirtualNodeName("", mesh, name));
}

}  // namespace
}  // namespace hawser::config::appmesh
