#include "discovery/cloudmap/cloudmap_source.h"

#include <gtest/gtest.h>

#include <deque>

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "discovery/aws/credentials.h"
#include "discovery/registry/registry_server.h"

namespace hawser::discovery::cloudmap {
namespace {
namespace asio = boost::asio;
using namespace std::chrono_literals;

std::string instances(const std::string& list, int64_t revision) {
  return R"({"Instances":[)" + list + R"(],"InstancesRevision":)" + std::to_string(revision) + "}";
}
std::string inst(const std::string& id, const std::string& ip, const std::string& port) {
  return R"({"InstanceId":")" + id + R"(","Attributes":{"AWS_INSTANCE_IPV4":")" + ip + R"(","AWS_INSTANCE_PORT":")" +
         port + R"(","version":"v1"}})";
}

// Answers DiscoverInstances with `full` and DiscoverInstancesRevision with `revision`.
struct FakeCloudMap {
  unsigned full_status = 200;
  std::string full = instances(inst("a", "10.0.0.1", "80"), 1);
  unsigned revision_status = 200;
  std::string revision = R"({"InstancesRevision":1})";
  std::vector<HttpRequest> seen;

  HttpTransport transport() {
    return [this](HttpRequest r) -> asio::awaitable<HttpResponse> {
      seen.push_back(r);
      HttpResponse out;
      std::string target;
      for (auto& [k, v] : r.headers) {
        if (k == "X-Amz-Target") target = v;
      }
      bool is_revision = target.ends_with("DiscoverInstancesRevision");
      out.status = is_revision ? revision_status : full_status;
      out.body = is_revision ? revision : full;
      co_return out;
    };
  }
};

struct Harness {
  asio::io_context io;
  FakeCloudMap fake;
  std::vector<std::vector<aws::Endpoint>> updates;
  std::vector<CloudMapSourceError> errors;
  std::unique_ptr<CloudMapSource> source;

  void start(CloudMapSourceConfig cfg = {}, std::shared_ptr<CredentialsProvider> creds = nullptr) {
    if (cfg.namespace_name.empty()) cfg.namespace_name = "ns.local";
    if (cfg.service_name.empty()) cfg.service_name = "web";
    if (cfg.endpoint.empty()) cfg.endpoint = "http://127.0.0.1:9";
    cfg.poll_interval = 5ms;
    cfg.jitter = 0.2;
    cfg.max_backoff = 20ms;
    source = std::make_unique<CloudMapSource>(
        io.get_executor(), cfg, creds, [this](const auto& e) { updates.push_back(e); },
        [this](const CloudMapSourceError& e) { errors.push_back(e); }, fake.transport());
    source->start();
  }
  template <class Pred>
  bool runUntil(Pred pred, std::chrono::milliseconds limit = 3000ms) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred() && std::chrono::steady_clock::now() < deadline) io.run_for(5ms);
    return pred();
  }
};

TEST(CloudMapSource, FirstRoundIsFullThenRevisionChecks) {
  Harness h;
  h.start();
  ASSERT_TRUE(h.runUntil([&] { return h.source->stats().revision_requests >= 3; }));
  ASSERT_EQ(h.updates.size(), 1u);
  ASSERT_EQ(h.updates[0].size(), 1u);
  EXPECT_EQ(h.updates[0][0].host, "10.0.0.1");
  EXPECT_EQ(h.updates[0][0].port, 80);
  EXPECT_EQ(h.updates[0][0].attributes.at("version"), "v1");
  EXPECT_EQ(h.source->stats().full_requests, 1u);
  EXPECT_TRUE(h.source->stats().warmed);
  EXPECT_TRUE(h.errors.empty());
  // A moved revision triggers a full fetch and an update.
  h.fake.full = instances(inst("a", "10.0.0.1", "80") + "," + inst("b", "10.0.0.2", "81"), 2);
  h.fake.revision = R"({"InstancesRevision":2})";
  ASSERT_TRUE(h.runUntil([&] { return h.updates.size() == 2; }));
  EXPECT_EQ(h.updates[1].size(), 2u);
  EXPECT_EQ(h.source->stats().revision, 2);
}

TEST(CloudMapSource, HealthRefreshFetchesInFullEvenWithoutRevisionChange) {
  Harness h;
  CloudMapSourceConfig cfg;
  cfg.health_refresh = 30ms;
  h.start(cfg);
  ASSERT_TRUE(h.runUntil([&] { return h.source->stats().full_requests >= 3; }));
  EXPECT_GT(h.source->stats().revision_requests, 0u);
  EXPECT_EQ(h.updates.size(), 1u) << "an unchanged set is not re-delivered";
}

TEST(CloudMapSource, MalformedResponsesKeepTheLastKnownSet) {
  Harness h;
  h.start();
  ASSERT_TRUE(h.runUntil([&] { return h.updates.size() == 1; }));
  h.fake.revision = R"({"InstancesRevision":9})";  // every round fetches in full
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"not_json", "<html>oops"},
      {"wrong_type", R"({"Instances":"nope","InstancesRevision":9})"},
      {"missing_attribute", instances(R"({"InstanceId":"x","Attributes":{"AWS_INSTANCE_PORT":"80"}})", 9)},
      {"bad_port", instances(inst("x", "10.0.0.9", "70000"), 9)},
      {"empty_list", instances("", 9)},
  };
  for (const auto& [kind, body] : bad) {
    h.fake.full = body;
    auto before = h.errors.size();
    ASSERT_TRUE(h.runUntil([&] {
      for (size_t i = before; i < h.errors.size(); ++i) {
        if (h.errors[i].kind == kind) return true;
      }
      return false;
    })) << kind;
  }
  EXPECT_EQ(h.updates.size(), 1u);
  EXPECT_GE(h.source->stats().empty_lists, 1u);
  EXPECT_GE(h.source->stats().errors, bad.size());
  // One bad instance among good ones is skipped, the rest served.
  h.fake.full =
      instances(inst("a", "10.0.0.1", "80") + "," + inst("x", "10.0.0.9", "0") + "," + inst("c", "10.0.0.3", "82"), 9);
  ASSERT_TRUE(h.runUntil([&] { return h.updates.size() == 2; }));
  EXPECT_EQ(h.updates[1].size(), 2u);
  EXPECT_GE(h.source->stats().skipped_instances, 1u);
}

TEST(CloudMapSource, ThrottlingBacksOffAndRecovers) {
  Harness h;
  h.fake.full_status = 400;
  h.fake.full = R"({"__type":"RequestLimitExceeded","message":"slow down"})";
  h.start();
  ASSERT_TRUE(h.runUntil([&] { return h.source->stats().throttled >= 3; }));
  EXPECT_EQ(h.errors.front().kind, "throttled");
  EXPECT_TRUE(h.updates.empty());
  EXPECT_FALSE(h.source->stats().warmed);
  h.fake.full_status = 200;
  h.fake.full = instances(inst("a", "10.0.0.1", "80"), 1);
  ASSERT_TRUE(h.runUntil([&] { return h.updates.size() == 1; }));
}

TEST(CloudMapSource, SignsRequestsWithTheCurrentCredentials) {
  Harness h;
  auto creds = std::make_shared<StaticCredentialsProvider>(
      aws::Credentials{"AKIDEXAMPLE", "secret", "token-1", std::nullopt, std::nullopt});
  CloudMapSourceConfig cfg;
  cfg.region = "eu-west-1";
  h.start(cfg, creds);
  ASSERT_TRUE(h.runUntil([&] { return !h.fake.seen.empty(); }));
  const auto& r = h.fake.seen.front();
  EXPECT_EQ(r.url, "http://127.0.0.1:9/");
  std::map<std::string, std::string> headers(r.headers.begin(), r.headers.end());
  EXPECT_EQ(headers["X-Amz-Target"], "Route53AutoNaming_v20170314.DiscoverInstances");
  EXPECT_EQ(headers["Content-Type"], "application/x-amz-json-1.1");
  EXPECT_EQ(headers["X-Amz-Security-Token"], "token-1");
  EXPECT_NE(headers["Authorization"].find("/eu-west-1/servicediscovery/aws4_request"), std::string::npos);
  auto body = boost::json::parse(r.body);
  EXPECT_EQ(body.at("NamespaceName"), "ns.local");
  EXPECT_EQ(body.at("HealthStatus"), "HEALTHY");
}

TEST(CloudMapSource, RejectsBadConfig) {
  asio::io_context io;
  CloudMapSourceConfig cfg;
  cfg.namespace_name = "n";
  cfg.service_name = "s";
  cfg.endpoint = "ftp://x";
  EXPECT_THROW(CloudMapSource(io.get_executor(), cfg, nullptr, {}), std::invalid_argument);
  cfg.endpoint.clear();
  cfg.region = "us-west-2";
  CloudMapSource regional(io.get_executor(), cfg, nullptr, {});
  EXPECT_EQ(regional.endpointUrl(), "https://data-servicediscovery.us-west-2.amazonaws.com/");
}

// Container credentials: refreshed before expiry; a fake endpoint hands out
// a new session token on every fetch.
TEST(ContainerCredentialsProvider, RefreshesBeforeExpiry) {
  asio::io_context io;
  int fetches = 0;
  std::vector<std::string> auth_seen;
  HttpTransport fake = [&](HttpRequest r) -> asio::awaitable<HttpResponse> {
    for (auto& [k, v] : r.headers) {
      if (k == "Authorization") auth_seen.push_back(v);
    }
    ++fetches;
    HttpResponse out;
    out.status = 200;
    auto now = aws::Clock::now();
    out.body = R"({"AccessKeyId":"AKID)" + std::to_string(fetches) + R"(","SecretAccessKey":"s","Token":"tok-)" +
               std::to_string(fetches) + R"(","Expiration":")" + aws::formatIso8601(now + 2s) + R"("})";
    co_return out;
  };
  auto provider = std::make_shared<ContainerCredentialsProvider>(
      io.get_executor(), aws::ContainerCredentialsEndpoint{"http://127.0.0.1:1/creds", "Bearer abc"}, fake);
  provider->start();
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (fetches < 3 && std::chrono::steady_clock::now() < deadline) io.run_for(10ms);
  ASSERT_GE(fetches, 3) << "a 2 s credential is refreshed at 85% of its lifetime";
  auto current = provider->current();
  ASSERT_TRUE(current);
  EXPECT_EQ(current->session_token, "tok-" + std::to_string(fetches));
  EXPECT_EQ(auth_seen.front(), "Bearer abc");
  provider->stop();
  io.run_for(20ms);
}

TEST(DefaultCredentialsProvider, EnvironmentFirstThenContainerElseNone) {
  asio::io_context io;
  std::map<std::string, std::string> env{{"AWS_ACCESS_KEY_ID", "AK"},
                                         {"AWS_SECRET_ACCESS_KEY", "SK"},
                                         {"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/c"}};
  aws::EnvLookup lookup = [&](std::string_view n) -> std::optional<std::string> {
    auto it = env.find(std::string(n));
    return it == env.end() ? std::nullopt : std::optional(it->second);
  };
  aws::FileReader no_files = [](std::string_view) { return std::optional<std::string>(); };
  auto p = makeDefaultCredentialsProvider(io.get_executor(), lookup, no_files);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->current()->access_key, "AK");
  env.erase("AWS_ACCESS_KEY_ID");
  p = makeDefaultCredentialsProvider(io.get_executor(), lookup, no_files);
  ASSERT_TRUE(dynamic_cast<ContainerCredentialsProvider*>(p.get()));
  env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://203.0.113.1/c";  // not loopback: refused
  EXPECT_THROW(makeDefaultCredentialsProvider(io.get_executor(), lookup, no_files), std::runtime_error);
  env.clear();
  EXPECT_FALSE(makeDefaultCredentialsProvider(io.get_executor(), lookup, no_files));
}

// End to end over loopback: the real registry server (SigV4 required) and the
// real HTTP transport.
TEST(CloudMapSourceLoopback, ReadsWhatWasRegisteredSignedWithSigV4) {
  asio::io_context io;
  registry::RegistryServerOptions options;
  options.api.credentials = aws::Credentials{"AKIDLOOP", "loop-secret", "", std::nullopt, std::nullopt};
  registry::RegistryServer server(io.get_executor(), options);
  auto address = server.start();

  // Seed the registry through the same pure API the server uses.
  auto& api = const_cast<registry::RegistryApi&>(server.api());
  auto call = [&](std::string op, std::string body) {
    registry::RegistryRequest r;
    r.headers = {{"Host", address}, {"X-Amz-Target", "Route53AutoNaming_v20170314." + op}};
    r.body = body;
    aws::SigningParams params{"us-east-1", "servicediscovery", aws::formatAmzDate(std::chrono::system_clock::now())};
    auto s = aws::signRequest({"POST", "/", r.headers, aws::sha256Hex(body)}, *options.api.credentials, params);
    for (auto& h : s.headers_to_add) r.headers.push_back(h);
    auto res = api.handle(r, std::chrono::system_clock::now());
    EXPECT_EQ(res.status, 200u) << res.body;
    return boost::json::parse(res.body.empty() ? "{}" : res.body);
  };
  auto op = call("CreateHttpNamespace", R"({"Name":"loop.local"})");
  auto ns = call("GetOperation", R"({"OperationId":")" + std::string(op.at("OperationId").as_string()) + "\"}")
                .at("Operation")
                .at("Targets")
                .at("NAMESPACE")
                .as_string();
  auto svc = call("CreateService", R"({"Name":"api","NamespaceId":")" + std::string(ns) + "\"}")
                 .at("Service")
                 .at("Id")
                 .as_string();
  call(
      "RegisterInstance",
      R"({"ServiceId":")" + std::string(svc) +
          R"(","InstanceId":"i-1","Attributes":{"AWS_INSTANCE_IPV4":"127.0.0.1","AWS_INSTANCE_PORT":"8080","AVAILABILITY_ZONE":"az1"}})");

  std::vector<std::vector<aws::Endpoint>> updates;
  std::vector<CloudMapSourceError> errors;
  CloudMapSourceConfig cfg;
  cfg.endpoint = "http://" + address;
  cfg.namespace_name = "loop.local";
  cfg.service_name = "api";
  cfg.poll_interval = 10ms;
  auto creds = std::make_shared<StaticCredentialsProvider>(*options.api.credentials);
  CloudMapSource source(
      io.get_executor(), cfg, creds, [&](const auto& e) { updates.push_back(e); },
      [&](const CloudMapSourceError& e) { errors.push_back(e); });
  source.start();
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (updates.empty() && std::chrono::steady_clock::now() < deadline) io.run_for(10ms);
  ASSERT_EQ(updates.size(), 1u) << (errors.empty() ? "" : errors.front().kind + ": " + errors.front().message);
  ASSERT_EQ(updates[0].size(), 1u);
  EXPECT_EQ(updates[0][0].host, "127.0.0.1");
  EXPECT_EQ(updates[0][0].port, 8080);
  EXPECT_EQ(updates[0][0].attributes.at("AVAILABILITY_ZONE"), "az1");

  // A wrong secret is refused by the registry and counted; the set is kept.
  auto bad = std::make_shared<StaticCredentialsProvider>(
      aws::Credentials{"AKIDLOOP", "wrong", "", std::nullopt, std::nullopt});
  size_t bad_errors = 0;
  CloudMapSource wrong(
      io.get_executor(), cfg, bad, [&](const auto&) { FAIL() << "no update expected"; },
      [&](const CloudMapSourceError& e) {
        EXPECT_EQ(e.http_status, 403u);
        ++bad_errors;
      });
  wrong.start();
  deadline = std::chrono::steady_clock::now() + 5s;
  while (bad_errors < 2 && std::chrono::steady_clock::now() < deadline) io.run_for(10ms);
  EXPECT_GE(bad_errors, 2u);
  source.stop();
  wrong.stop();
  server.stop();
  io.run_for(20ms);
}

}  // namespace
}  // namespace hawser::discovery::cloudmap
