// YAML -> Config, with errors that name the file, line, key path and problem.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <boost/asio/ip/address.hpp>
#include "dataplane/admin_guard.h"
#include "dataplane/config/capture_config.h"
#include "dataplane/config/config.h"
#include "dataplane/config/field.h"
#include "dataplane/config/speedscale_env.h"
#include "dataplane/config/tracing_config.h"
#include "dataplane/config/transparent_config.h"

#include "policy/retry_policy.h"

namespace hawser::config {

Tls readTls(const Field& f) {
  f.expectMap({"cert", "key", "ca", "crl", "crl_check", "min_version", "reload"});
  Tls t;
  t.cert = f.child("cert").required().nonEmptyString();
  t.key = f.child("key").required().nonEmptyString();
  t.ca = f.child("ca").required().nonEmptyString();
  if (auto v = f.child("crl"); v.present()) t.crl = v.nonEmptyString();
  if (auto v = f.child("crl_check"); v.present()) {
    t.crl_check = v.oneOf<std::string>({{"chain", "chain"}, {"leaf", "leaf"}});
    // Without a CRL nothing is checked: a crl_check alone would only look like revocation checking.
    if (t.crl.empty()) v.fail("needs tls.crl (the CRLs to check against)");
  }
  if (auto v = f.child("min_version"); v.present()) {
    t.min_version = v.oneOf<std::string>({{"1.2", "1.2"}, {"1.3", "1.3"}});
  }
  if (auto v = f.child("reload"); v.present()) t.reload = v.boolean();
  return t;
}

YAML::Node parseYaml(const std::string& text, const std::string& source) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(source + ":" + std::to_string(e.mark.line + 1) + ": (syntax): " + e.msg);
  }
}

namespace {

Timeouts readTimeouts(const Field& f) {
  Timeouts t;
  if (!f.present()) return t;
  f.expectMap({"connect", "request", "idle"});
  if (auto c = f.child("connect"); c.present()) t.connect = c.duration();
  if (auto c = f.child("request"); c.present()) t.request = c.duration();
  if (auto c = f.child("idle"); c.present()) t.idle = c.duration();
  if (t.connect.count() == 0) f.child("connect").fail("must be greater than 0");
  return t;
}

Retry readRetry(const Field& f) {
  f.expectMap({"attempts", "per_try_timeout", "on", "backoff", "budget", "max_buffered_body", "allow_non_idempotent"});
  Retry r;
  if (auto v = f.child("attempts"); v.present()) r.attempts = static_cast<uint32_t>(v.unsignedInt(1, 10));
  if (auto v = f.child("per_try_timeout"); v.present()) r.per_try_timeout = v.duration();
  if (auto on = f.child("on"); on.present()) {
    r.on.clear();
    size_t n = on.expectList();
    policy::RetryConditions conditions;
    for (size_t i = 0; i < n; ++i) {
      auto text = on.item(i).nonEmptyString();
      if (auto error = conditions.add(text); !error.empty()) on.item(i).fail(error);
      r.on.push_back(text);
    }
  }
  if (auto b = f.child("backoff"); b.present()) {
    b.expectMap({"base", "max"});
    if (auto v = b.child("base"); v.present()) r.backoff_base = v.duration();
    if (auto v = b.child("max"); v.present()) r.backoff_max = v.duration();
    if (r.backoff_max < r.backoff_base) b.child("max").fail("must not be less than backoff.base");
  }
  if (auto b = f.child("budget"); b.present()) {
    b.expectMap({"percent", "min_per_second"});
    if (auto v = b.child("percent"); v.present()) r.budget_percent = static_cast<double>(v.unsignedInt(0, 1000));
    if (auto v = b.child("min_per_second"); v.present()) {
      r.budget_min_per_second = static_cast<double>(v.unsignedInt(0, 1'000'000));
    }
  }
  if (auto v = f.child("max_buffered_body"); v.present()) r.max_buffered_body = v.unsignedInt(0, 64 << 20);
  if (auto v = f.child("allow_non_idempotent"); v.present()) r.allow_non_idempotent = v.boolean();
  return r;
}

RateLimit readRateLimit(const Field& rl, bool allow_per_peer) {
  if (allow_per_peer)
    rl.expectMap({"rps", "burst", "per_peer"});
  else
    rl.expectMap({"rps", "burst"});
  RateLimit r;
  r.rps = static_cast<double>(rl.child("rps").required().unsignedInt(1, 10'000'000));
  r.burst = rl.child("burst").present() ? static_cast<uint32_t>(rl.child("burst").unsignedInt(1, 10'000'000))
                                        : static_cast<uint32_t>(r.rps);
  if (auto v = rl.child("per_peer"); v.present()) r.per_peer = v.boolean();
  return r;
}

HealthCheck readHealthCheck(const Field& f) {
  f.expectMap({"path", "interval", "timeout", "healthy", "unhealthy"});
  HealthCheck h;
  if (auto v = f.child("path"); v.present()) {
    h.path = v.nonEmptyString();
    if (h.path[0] != '/') v.fail("must start with /");
  }
  if (auto v = f.child("interval"); v.present()) h.interval = v.duration();
  if (auto v = f.child("timeout"); v.present()) h.timeout = v.duration();
  if (auto v = f.child("healthy"); v.present()) h.healthy = static_cast<uint32_t>(v.unsignedInt(1, 100));
  if (auto v = f.child("unhealthy"); v.present()) h.unhealthy = static_cast<uint32_t>(v.unsignedInt(1, 100));
  if (h.interval.count() == 0) f.child("interval").fail("must be greater than 0");
  if (h.timeout.count() == 0) f.child("timeout").fail("must be greater than 0");
  if (h.timeout > h.interval) f.child("timeout").fail("must not be greater than interval");
  return h;
}

std::vector<Route> readRoutes(const Field& f) {
  std::vector<Route> routes;
  size_t n = f.expectList();
  for (size_t i = 0; i < n; ++i) {
    auto e = f.item(i);
    e.expectMap({"match", "split", "retry", "timeouts"});
    Route r;
    if (auto m = e.child("match"); m.present()) {
      m.expectMap({"prefix", "headers"});
      if (auto p = m.child("prefix"); p.present()) {
        r.prefix = p.nonEmptyString();
        if (r.prefix[0] != '/') p.fail("must start with /");
      }
      if (auto h = m.child("headers"); h.present()) {
        r.headers = h.stringMap();
        for (auto& [name, value] : r.headers) {
          for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        }
      }
    }
    if (auto sp = e.child("split"); sp.present()) {
      size_t k = sp.expectList();
      if (k == 0) sp.fail("must not be empty (leave split out to use every endpoint)");
      uint64_t total = 0;
      std::set<std::string> names;
      for (size_t j = 0; j < k; ++j) {
        auto item = sp.item(j);
        item.expectMap({"subset", "weight", "name"});
        Split s;
        s.subset = item.child("subset").required().stringMap();
        s.weight = static_cast<uint32_t>(item.child("weight").required().unsignedInt(0, 1'000'000));
        if (auto nm = item.child("name"); nm.present()) s.name = nm.nonEmptyString();
        total += s.weight;
        r.split.push_back(std::move(s));
      }
      if (total == 0) sp.fail("at least one split entry needs a weight above 0");
    }
    if (auto v = e.child("retry"); v.present()) r.retry = readRetry(v);
    if (auto v = e.child("timeouts"); v.present()) r.timeouts = readTimeouts(v);
    routes.push_back(std::move(r));
  }
  return routes;
}

// node.register, instance_id, attributes, cloudmap, app_health, advertise_address,
// deregister_grace. Cross-checks needing the rest of the file are in parse().
void readRegistration(const Field& f, Node& n) {
  if (auto v = f.child("register"); v.present()) n.register_instance = v.boolean();
  if (auto v = f.child("instance_id"); v.present()) {
    n.instance_id = v.nonEmptyString();
    if (n.instance_id.size() > 64) v.fail("must be at most 64 characters");
    for (char ch : n.instance_id) {
      if (!(std::isalnum(static_cast<unsigned char>(ch)) || std::strchr("_/:.@-", ch))) {
        v.fail("may only hold letters, digits and _ / : . @ -");
      }
    }
  }
  if (auto v = f.child("attributes"); v.present()) {
    n.attributes = v.stringMap();
    for (const auto& [k, val] : n.attributes) {
      if (k == "AWS_INSTANCE_IPV4" || k == "AWS_INSTANCE_PORT" || k == "AWS_INSTANCE_IPV6") {
        v.child(k).fail("is set by hawser from the inbound listener; use node.advertise_address to change it");
      }
      if (k.empty() || k.size() > 255) v.child(k).fail("attribute names must be 1 to 255 characters");
      if (val.size() > 1024) v.child(k).fail("attribute values must be at most 1024 characters");
    }
    if (n.attributes.size() > 28) v.fail("at most 28 attributes (Cloud Map allows 30, two are the address and port)");
  }
  if (auto cm = f.child("cloudmap"); cm.present()) {
    cm.expectMap({"namespace", "service"});
    n.cloudmap_namespace = cm.child("namespace").required().nonEmptyString();
    n.cloudmap_service = cm.child("service").required().nonEmptyString();
  } else if (n.register_instance) {
    cm.fail("required key is missing (where to register: {namespace, service})");
  }
  if (auto h = f.child("app_health"); h.present()) {
    h.expectMap({"path", "interval", "timeout"});
    if (auto v = h.child("path"); v.present()) {
      n.app_health.path = v.nonEmptyString();
      if (n.app_health.path[0] != '/') v.fail("must start with /");
    }
    if (auto v = h.child("interval"); v.present()) n.app_health.interval = v.duration();
    if (auto v = h.child("timeout"); v.present()) n.app_health.timeout = v.duration();
    if (n.app_health.interval.count() == 0) h.child("interval").fail("must be greater than 0");
    if (n.app_health.timeout.count() == 0) h.child("timeout").fail("must be greater than 0");
  }
  if (auto v = f.child("advertise_address"); v.present()) {
    n.advertise_address = v.address();
    boost::system::error_code ec;
    auto ip = boost::asio::ip::make_address(n.advertise_address->host, ec);
    if (ec || !ip.is_v4() || ip.is_unspecified()) {
      v.fail("must be an IPv4 address and port (Cloud Map's AWS_INSTANCE_IPV4), e.g. 10.0.1.15:15000");
    }
  }
  if (auto v = f.child("deregister_grace"); v.present()) n.deregister_grace = v.duration();
}

Protocol readProtocol(const Field& f) {
  if (!f.present()) return Protocol::http;
  return f.oneOf<Protocol>({{"http", Protocol::http}, {"tcp", Protocol::tcp}});
}

Discovery readDiscovery(const Field& f, bool have_cloudmap) {
  f.required().expectMap({"static", "file", "cloudmap", "dns"});
  Discovery d;
  auto st = f.child("static");
  auto file = f.child("file");
  auto cm = f.child("cloudmap");
  auto dns = f.child("dns");
  if (int(st.present()) + int(file.present()) + int(cm.present()) + int(dns.present()) != 1) {
    f.fail("exactly one of static, file, cloudmap, dns is required");
  }
  if (dns.present()) {
    dns.expectMap({"srv", "a", "port"});
    d.kind = Discovery::Kind::dns;
    auto srv = dns.child("srv");
    auto a = dns.child("a");
    if (srv.present() == a.present()) dns.fail("exactly one of srv, a is required");
    if (srv.present()) {
      d.dns_name = srv.nonEmptyString();
      if (dns.child("port").present()) dns.child("port").fail("srv records carry the port; remove port");
    } else {
      d.dns_srv = false;
      d.dns_name = a.nonEmptyString();
      d.dns_port = static_cast<uint16_t>(dns.child("port").required().unsignedInt(1, 65535));
    }
  } else if (cm.present()) {
    cm.expectMap({"namespace", "service", "query", "optional", "max_results", "owner_account"});
    d.kind = Discovery::Kind::cloudmap;
    d.cloudmap_namespace = cm.child("namespace").required().nonEmptyString();
    d.cloudmap_service = cm.child("service").required().nonEmptyString();
    if (auto q = cm.child("query"); q.present()) d.cloudmap_query = q.stringMap();
    if (auto q = cm.child("optional"); q.present()) d.cloudmap_optional = q.stringMap();
    if (auto m = cm.child("max_results"); m.present()) d.cloudmap_max_results = uint32_t(m.unsignedInt(1, 1000));
    if (auto o = cm.child("owner_account"); o.present()) {
      d.cloudmap_owner_account = o.nonEmptyString();
      if (d.cloudmap_owner_account.size() != 12 ||
          d.cloudmap_owner_account.find_first_not_of("0123456789") != std::string::npos) {
        o.fail("must be a 12-digit AWS account id");
      }
    }
    if (!have_cloudmap) cm.fail("needs the top-level discovery.cloudmap block (endpoint or region)");
  } else if (st.present()) {
    d.kind = Discovery::Kind::static_list;
    size_t n = st.expectList();
    for (size_t i = 0; i < n; ++i) {
      // "host:port", or {address: "host:port", attributes: {version: v2, ...}}.
      auto item = st.item(i);
      AttributeList attributes;
      if (item.isMap()) {
        item.expectMap({"address", "attributes"});
        if (auto a = item.child("attributes"); a.present()) attributes = a.stringMap();
      }
      const Field where = item.isMap() ? item.child("address").required() : item;
      d.endpoints.push_back(where.address());
      d.static_attributes.push_back(std::move(attributes));
      if (d.endpoints[i].port == 0) where.fail("endpoint port must not be 0");
    }
  } else {
    d.kind = Discovery::Kind::file;
    d.file = file.nonEmptyString();
  }
  return d;
}

void checkUniqueListen(std::vector<std::pair<Address, Field>>& listeners) {
  for (size_t i = 0; i < listeners.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      const auto& a = listeners[i].first;
      const auto& b = listeners[j].first;
      if (a.port != 0 && a.port == b.port && (a.host == b.host || a.host == "0.0.0.0" || b.host == "0.0.0.0")) {
        listeners[i].second.fail("listener address " + a.str() + " is already used by " + listeners[j].second.path());
      }
    }
  }
}

Config parse(const YAML::Node& root, const std::string& source) {
  Field top(root, "", source);
  Config c;
  c.source = source;
  if (!root.IsDefined() || root.IsNull()) top.fail("the configuration is empty");
  top.expectMap({"node", "admin", "workers", "drain_timeout", "limits", "tls", "discovery", "inbound", "outbound",
                 "telemetry", "capture"});
  if (auto f = top.child("discovery"); f.present()) {
    f.expectMap({"cloudmap", "dns"});
    if (auto dns = f.child("dns"); dns.present()) {
      dns.expectMap({"servers", "min_ttl", "refresh", "negative_ttl", "timeout"});
      if (auto s = dns.child("servers"); s.present()) {
        size_t n = s.expectList();
        for (size_t i = 0; i < n; ++i) {
          auto text = s.item(i).nonEmptyString();
          boost::system::error_code ec;
          auto colon = text.rfind(':');
          auto host = colon != std::string::npos && text.find(':') == colon ? text.substr(0, colon) : text;
          if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.find(']') - 1);
          boost::asio::ip::make_address(host, ec);
          if (ec) s.item(i).fail("a DNS server must be an IP address, optionally with :port");
          c.dns.servers.push_back(text);
        }
      }
      if (auto v = dns.child("min_ttl"); v.present()) c.dns.min_ttl = v.duration();
      if (auto v = dns.child("refresh"); v.present()) c.dns.refresh = v.duration();
      if (auto v = dns.child("negative_ttl"); v.present()) c.dns.negative_ttl = v.duration();
      if (auto v = dns.child("timeout"); v.present()) c.dns.timeout = v.duration();
      if (c.dns.refresh < c.dns.min_ttl) dns.child("refresh").fail("must not be less than min_ttl");
      if (c.dns.timeout.count() == 0) dns.child("timeout").fail("must be greater than 0");
      if (c.dns.min_ttl.count() == 0) dns.child("min_ttl").fail("must be greater than 0");
      if (c.dns.negative_ttl.count() == 0) dns.child("negative_ttl").fail("must be greater than 0");
    }
    if (auto cm = f.child("cloudmap"); cm.present()) {
      cm.expectMap({"endpoint", "region", "poll_interval", "health_refresh", "health_status"});
      CloudMap m;
      if (auto v = cm.child("endpoint"); v.present()) {
        m.endpoint = v.nonEmptyString();
        if (m.endpoint.rfind("http://", 0) != 0 && m.endpoint.rfind("https://", 0) != 0) {
          v.fail("must be an http:// or https:// URL");
        }
      }
      if (auto v = cm.child("region"); v.present()) m.region = v.nonEmptyString();
      if (auto v = cm.child("poll_interval"); v.present()) m.poll_interval = v.duration();
      if (auto v = cm.child("health_refresh"); v.present()) m.health_refresh = v.duration();
      if (m.poll_interval.count() == 0) cm.child("poll_interval").fail("must be greater than 0");
      if (auto v = cm.child("health_status"); v.present()) {
        m.health_status = v.oneOf<std::string>({{"HEALTHY", "HEALTHY"},
                                                {"UNHEALTHY", "UNHEALTHY"},
                                                {"ALL", "ALL"},
                                                {"HEALTHY_OR_ELSE_ALL", "HEALTHY_OR_ELSE_ALL"}});
      }
      c.cloudmap = m;
    }
  }
  std::vector<std::pair<Address, Field>> listeners;

  std::optional<Field> node_field;
  if (auto f = top.child("node"); f.present()) {
    node_field.emplace(f);
    f.expectMap({"service", "namespace", "identity", "register", "instance_id", "attributes", "cloudmap", "app_health",
                 "advertise_address", "deregister_grace", "zone"});
    if (auto s = f.child("service"); s.present()) c.node.service = s.nonEmptyString();
    if (auto s = f.child("namespace"); s.present()) c.node.ns = s.nonEmptyString();
    if (auto s = f.child("identity"); s.present()) c.node.identity = s.nonEmptyString();
    readRegistration(f, c.node);
    if (auto z = f.child("zone"); z.present()) c.node.zone = z.nonEmptyString();
  }
  if (c.node.zone.empty()) {
    for (const auto& [k, v] : c.node.attributes) {
      if (k == "AVAILABILITY_ZONE") c.node.zone = v;
    }
  }
  if (auto f = top.child("admin"); f.present()) {
    f.expectMap({"address", "allowed_hosts"});
    if (auto a = f.child("address"); a.present()) c.admin = a.address();
    if (auto hosts = f.child("allowed_hosts"); hosts.present()) {
      size_t n = hosts.expectList();
      for (size_t i = 0; i < n; ++i) {
        auto entry = hosts.item(i).string();
        if (auto problem = allowedHostProblem(entry); !problem.empty()) hosts.item(i).fail(problem);
        c.admin_allowed_hosts.push_back(*adminHostName(entry));
      }
    }
    listeners.emplace_back(c.admin, f.child("address"));
  }
  if (auto f = top.child("workers"); f.present()) c.workers = static_cast<unsigned>(f.unsignedInt(1, 256));
  if (c.workers == 0) c.workers = std::max(1u, std::thread::hardware_concurrency());
  if (auto f = top.child("drain_timeout"); f.present()) c.drain_timeout = f.duration();
  if (auto f = top.child("limits"); f.present()) {
    f.expectMap({"max_header_bytes", "max_headers", "max_request_body_bytes", "header_timeout"});
    if (auto v = f.child("max_header_bytes"); v.present()) c.limits.max_header_bytes = v.unsignedInt(1024, 1 << 24);
    if (auto v = f.child("max_headers"); v.present()) c.limits.max_headers = v.unsignedInt(1, 10000);
    if (auto v = f.child("max_request_body_bytes"); v.present()) {
      c.limits.max_request_body_bytes = v.unsignedInt(0, UINT64_MAX);
    }
    if (auto v = f.child("header_timeout"); v.present()) {
      c.limits.header_timeout = v.duration();
      if (c.limits.header_timeout.count() == 0) v.fail("must be greater than 0");
    }
  }

  if (auto f = top.child("tls"); f.present()) c.tls = readTls(f);
  const bool have_tls = c.tls.has_value();
  auto needTls = [&](const Field& mode_field, const char* mode) {
    mode_field.fail(std::string("tls mode ") + mode +
                    " needs the top-level tls block (cert, key, ca); set tls.mode: disabled to use plaintext");
  };

  std::set<std::string> names;
  if (auto f = top.child("inbound"); f.present()) {
    size_t n = f.expectList();
    for (size_t i = 0; i < n; ++i) {
      auto e = f.item(i);
      e.expectMap(
          {"name", "listen", "app", "protocol", "timeouts", "tls", "authorization", "rate_limit", "transparent"});
      Inbound in;
      if (auto t = e.child("transparent"); t.present()) in.transparent = t.boolean();
      if (auto rl = e.child("rate_limit"); rl.present()) in.rate_limit = readRateLimit(rl, true);
      if (auto t = e.child("tls"); t.present()) {
        t.expectMap({"mode"});
        in.tls_mode = t.child("mode").required().oneOf<InboundTlsMode>({{"strict", InboundTlsMode::strict},
                                                                        {"permissive", InboundTlsMode::permissive},
                                                                        {"disabled", InboundTlsMode::disabled}});
      }
      if (in.tls_mode != InboundTlsMode::disabled && !have_tls) {
        needTls(e.child("tls").present() ? e.child("tls").child("mode") : e.child("tls"), name(in.tls_mode));
      }
      if (auto a = e.child("authorization"); a.present()) {
        a.expectMap({"allow"});
        auto allow = a.child("allow").required();
        size_t n = allow.expectList();
        for (size_t k = 0; k < n; ++k) {
          auto id = allow.item(k).nonEmptyString();
          auto star = id.find('*');
          if (star != std::string::npos && star != id.size() - 1) {
            allow.item(k).fail("'*' may only end an identity pattern, e.g. spiffe://demo/*");
          }
          in.allow.push_back(id);
        }
        if (in.tls_mode == InboundTlsMode::disabled) {
          a.fail("authorization needs tls (mode strict or permissive): plaintext peers have no identity");
        }
      }
      in.name = e.child("name").required().nonEmptyString();
      if (!names.insert("inbound/" + in.name).second)
        e.child("name").fail("duplicate inbound name \"" + in.name + "\"");
      in.listen = e.child("listen").required().address();
      // Transparent entries share one ingress listener (checkTransparent).
      if (!in.transparent || std::none_of(c.inbound.begin(), c.inbound.end(), [](auto& o) { return o.transparent; })) {
        listeners.emplace_back(in.listen, e.child("listen"));
      }
      in.app = e.child("app").required().address();
      if (in.app.port == 0) e.child("app").fail("app port must not be 0");
      in.protocol = readProtocol(e.child("protocol"));
      if (in.protocol != Protocol::http && in.rate_limit) {
        e.child("rate_limit").fail("rate limits apply to HTTP requests; this listener is protocol: tcp");
      }
      in.timeouts = readTimeouts(e.child("timeouts"));
      c.inbound.push_back(std::move(in));
    }
  }
  if (auto f = top.child("outbound"); f.present()) {
    f.expectMap({"http_proxy", "passthrough", "services", "transparent"});
    if (auto p = f.child("http_proxy"); p.present()) {
      c.outbound.http_proxy = p.address();
      listeners.emplace_back(*c.outbound.http_proxy, p);
    }
    if (auto t = f.child("transparent"); t.present()) {
      c.outbound.transparent = readTransparentOutbound(t);
      listeners.emplace_back(c.outbound.transparent->listen, t.child("listen").present() ? t.child("listen") : t);
    }
    if (auto p = f.child("passthrough"); p.present()) c.outbound.passthrough = p.boolean();
    if (auto s = f.child("services"); s.present()) {
      size_t n = s.expectList();
      for (size_t i = 0; i < n; ++i) {
        auto e = s.item(i);
        e.expectMap({"name", "alias", "protocol", "discovery", "timeouts", "load_balancer", "tls", "retry",
                     "circuit_breaker", "outlier_detection", "health_check", "rate_limit", "routes", "zone_aware",
                     "zone_spill_percent", "panic_threshold_percent", "max_requests_per_connection", "virtual_ips",
                     "destination_ports"});
        Service svc;
        readTransparentMatch(e, svc);
        if (auto v = e.child("max_requests_per_connection"); v.present()) {
          svc.max_requests_per_connection = static_cast<uint32_t>(v.unsignedInt(0, 1u << 30));
        }
        if (auto v = e.child("health_check"); v.present()) svc.health_check = readHealthCheck(v);
        if (auto v = e.child("rate_limit"); v.present()) svc.rate_limit = readRateLimit(v, false);
        if (auto v = e.child("routes"); v.present()) svc.routes = readRoutes(v);
        if (auto v = e.child("zone_aware"); v.present()) svc.zone_aware = v.boolean();
        if (auto v = e.child("zone_spill_percent"); v.present()) {
          svc.zone_spill_percent = static_cast<uint32_t>(v.unsignedInt(0, 100));
        }
        if (auto v = e.child("panic_threshold_percent"); v.present()) {
          svc.panic_threshold_percent = static_cast<uint32_t>(v.unsignedInt(0, 100));
        }
        if (auto od = e.child("outlier_detection"); od.present()) {
          od.expectMap({"consecutive_5xx", "consecutive_gateway_errors", "interval", "base_ejection", "max_ejection",
                        "max_ejection_percent"});
          OutlierDetection o;
          if (auto v = od.child("consecutive_5xx"); v.present()) o.consecutive_5xx = uint32_t(v.unsignedInt(0, 1000));
          if (auto v = od.child("consecutive_gateway_errors"); v.present()) {
            o.consecutive_gateway_errors = uint32_t(v.unsignedInt(0, 1000));
          }
          if (auto v = od.child("interval"); v.present()) o.interval = v.duration();
          if (auto v = od.child("base_ejection"); v.present()) o.base_ejection = v.duration();
          if (auto v = od.child("max_ejection"); v.present()) o.max_ejection = v.duration();
          if (auto v = od.child("max_ejection_percent"); v.present()) {
            o.max_ejection_percent = uint32_t(v.unsignedInt(0, 100));
          }
          if (o.interval.count() == 0) od.child("interval").fail("must be greater than 0");
          if (o.base_ejection.count() == 0) od.child("base_ejection").fail("must be greater than 0");
          svc.outlier_detection = o;
        }
        if (auto r = e.child("retry"); r.present()) svc.retry = readRetry(r);
        if (auto cb = e.child("circuit_breaker"); cb.present()) {
          cb.expectMap({"max_connections", "max_pending", "max_requests", "max_retries"});
          auto limit = [&](const char* key, uint32_t& out) {
            if (auto v = cb.child(key); v.present()) out = static_cast<uint32_t>(v.unsignedInt(1, 1'000'000'000));
          };
          limit("max_connections", svc.circuit_breaker.max_connections);
          limit("max_pending", svc.circuit_breaker.max_pending);
          limit("max_requests", svc.circuit_breaker.max_requests);
          limit("max_retries", svc.circuit_breaker.max_retries);
        }
        if (auto t = e.child("tls"); t.present()) {
          t.expectMap({"mode", "sans", "namespace"});
          if (auto m = t.child("mode"); m.present()) {
            svc.tls_mode = m.oneOf<OutboundTlsMode>(
                {{"mutual", OutboundTlsMode::mutual}, {"disabled", OutboundTlsMode::disabled}});
          }
          if (auto sans = t.child("sans"); sans.present()) {
            size_t n = sans.expectList();
            for (size_t k = 0; k < n; ++k) svc.sans.push_back(sans.item(k).nonEmptyString());
          }
          if (auto ns = t.child("namespace"); ns.present()) svc.ns = ns.nonEmptyString();
        }
        if (svc.tls_mode == OutboundTlsMode::mutual && !have_tls) {
          needTls(e.child("tls").present() ? e.child("tls").child("mode") : e.child("tls"), "mutual");
        }
        svc.name = e.child("name").required().nonEmptyString();
        if (!names.insert("service/" + svc.name).second) {
          e.child("name").fail("duplicate service name \"" + svc.name + "\"");
        }
        if (auto a = e.child("alias"); a.present()) {
          svc.alias = a.address();
          listeners.emplace_back(*svc.alias, a);
        }
        svc.protocol = readProtocol(e.child("protocol"));
        if (svc.protocol != Protocol::http) {
          // A tcp service gets endpoint selection, timeouts and one more endpoint on a
          // connect failure; these act on HTTP requests and would silently do nothing.
          for (const char* key : {"retry", "circuit_breaker", "rate_limit", "routes"}) {
            if (auto k = e.child(key); k.present())
              k.fail(std::string(key) + " applies to HTTP requests; this service is protocol: tcp");
          }
        }
        svc.discovery = readDiscovery(e.child("discovery"), c.cloudmap.has_value());
        svc.timeouts = readTimeouts(e.child("timeouts"));
        if (auto lb = e.child("load_balancer"); lb.present()) {
          svc.load_balancer = lb.oneOf<LoadBalancer>({{"round_robin", LoadBalancer::round_robin},
                                                      {"least_request", LoadBalancer::least_request},
                                                      {"random", LoadBalancer::random}});
        }
        if (svc.tls_mode == OutboundTlsMode::mutual && svc.sans.empty()) {
          if (svc.ns.empty()) svc.ns = c.node.ns;
          if (svc.ns.empty()) {
            e.child("tls").fail(
                "mutual tls needs tls.sans, tls.namespace or node.namespace to know the peer's identity");
          }
          svc.sans.push_back("spiffe://" + svc.ns + "/" + svc.name);
        }
        c.outbound.services.push_back(std::move(svc));
      }
    }
  }
  if (auto f = top.child("telemetry"); f.present()) {
    f.expectMap({"metrics", "access_log", "tracing"});
    if (auto t = f.child("tracing"); t.present()) t.expectMap({"otlp"});
    if (auto m = f.child("metrics"); m.present()) {
      m.expectMap({"path", "enabled"});
      if (auto e = m.child("enabled"); e.present()) c.metrics_enabled = e.boolean();
      if (auto p = m.child("path"); p.present()) {
        c.metrics_path = p.nonEmptyString();
        if (c.metrics_path[0] != '/') p.fail("must start with /");
      }
    }
    if (auto a = f.child("access_log"); a.present()) {
      a.expectMap({"path", "format"});
      if (auto p = a.child("path"); p.present()) c.access_log.path = p.nonEmptyString();
      if (auto p = a.child("format"); p.present()) {
        p.oneOf<int>({{"json", 0}});
      }
    }
  }
  c.capture = readCapture(top.child("capture"), c.node, c.tls.has_value());
  c.tracing = readTracing(top.child("telemetry").child("tracing").child("otlp"), processEnvironment());
  if (c.node.register_instance) {
    auto reg = node_field->child("register");
    if (!c.cloudmap) reg.fail("self-registration needs discovery.cloudmap (the Cloud Map endpoint and region)");
    if (c.inbound.empty()) {
      reg.fail("self-registration needs an inbound listener (its port is registered and its app health-checked)");
    }
    if (c.inbound.front().protocol != Protocol::http && node_field->child("app_health").present()) {
      node_field->child("app_health").fail("the app health check is HTTP; the first inbound listener is tcp");
    }
  }
  checkTransparent(c, top.child("inbound"), top.child("outbound").child("services"), top.child("outbound"));
  checkUniqueListen(listeners);
  return c;
}

}  // namespace

std::string Address::str() const {
  return host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port)
                                             : host + ":" + std::to_string(port);
}

Config loadText(const std::string& yaml, const std::string& source) {
  auto root = parseYaml(yaml, source);
  try {
    return parse(root, source);
  } catch (const YAML::Exception& e) {  // conversion errors not caught by Field
    throw ConfigError(source + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

std::string readConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot read the file (" + std::string(std::strerror(errno)) + ")");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Config loadFile(const std::string& path) {
  return loadText(readConfigFile(path), path);
}

Config loadFromEnvironmentOr(const std::string& path) {
  if (!path.empty()) return loadFile(path);
  if (const char* p = std::getenv("HAWSER_CONFIG"); p && *p) return loadFile(p);
  if (const char* y = std::getenv("HAWSER_CONFIG_YAML"); y && *y) return loadText(y, "HAWSER_CONFIG_YAML");
  auto env = [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (!v) return std::nullopt;
    return std::string(v);
  };
  if (auto yaml = speedscaleConfigYaml(env)) return loadText(*yaml, kSpeedscaleSource);
  throw ConfigError(
      "no configuration: pass --config FILE, or set HAWSER_CONFIG, HAWSER_CONFIG_YAML or the Speedscale-style "
      "variables (REVERSE_PROXY_PORT, FORWARDER_ADDR, ...; docs/capture.md)");
}

std::string formatDuration(Duration d) {
  auto ms = d.count();
  if (ms % 60'000 == 0 && ms) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

const char* name(InboundTlsMode m) {
  return m == InboundTlsMode::strict ? "strict" : m == InboundTlsMode::permissive ? "permissive" : "disabled";
}
const char* name(OutboundTlsMode m) {
  return m == OutboundTlsMode::mutual ? "mutual" : "disabled";
}
const char* name(EgressFilter f) {
  return f == EgressFilter::drop_all ? "drop_all" : "allow_all";
}

const char* name(Protocol p) {
  return p == Protocol::tcp ? "tcp" : "http";
}
const char* name(LoadBalancer lb) {
  switch (lb) {
    case LoadBalancer::least_request: return "least_request";
    case LoadBalancer::random: return "random";
    default: return "round_robin";
  }
}

}  // namespace hawser::config
