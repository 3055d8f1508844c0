// The App Mesh -> hawser mapping. docs/migrate-from-app-mesh.md is the table
// this file implements; keep the two in step.
#include "dataplane/config/appmesh/appmesh_import.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <sstream>

#include <boost/json.hpp>

namespace hawser::config::appmesh {

namespace json = boost::json;

namespace {

using Attributes = std::vector<std::pair<std::string, std::string>>;

// One described resource: its object in the input (e.g. the value of "virtualNode").
struct Resource {
  JsonField root;
  std::string mesh;
  std::string name;
  std::string router;  // routes: the virtual router they belong to

  JsonField spec() const { return root["spec"]; }
};

// Where a virtual node's tasks are found (spec.serviceDiscovery).
struct NodeDiscovery {
  enum class Kind { none, cloudmap, dns } kind = Kind::none;
  std::string ns, service, hostname;
  Attributes attributes;
};

// A weighted target of a route (or the node provider of a virtual service).
struct Target {
  const Resource* node = nullptr;
  JsonField where;  // the weightedTargets[i] entry, or the provider
  int64_t weight = 1;
  size_t listener_index = 0;  // the target node's listener the traffic reaches
};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

YAML::Node flowList(const std::vector<std::string>& items) {
  YAML::Node n(YAML::NodeType::Sequence);
  for (const auto& i : items) n.push_back(i);
  n.SetStyle(YAML::EmitterStyle::Flow);
  return n;
}

YAML::Node flowMap(const Attributes& attributes) {
  YAML::Node n(YAML::NodeType::Map);
  for (const auto& [k, v] : attributes) n[k] = v;
  n.SetStyle(YAML::EmitterStyle::Flow);
  return n;
}

std::string emitted(const YAML::Node& n) {
  YAML::Emitter out;
  out << n;
  return out.c_str();
}

// The inputs, indexed by kind and name.
class Inputs {
 public:
  explicit Inputs(Ledger& ledger) : ledger_(ledger) {}

  void add(const InputDocument& doc) {
    json::error_code ec;
    json::parse_options po;
    auto v = json::parse(doc.text, ec, {}, po);
    if (ec) {
      ledger_.fail(doc.source, "(document)", "not valid JSON: " + ec.message());
      return;
    }
    values_.push_back(std::move(v));
    JsonField top(&values_.back(), "", doc.source, &ledger_);
    if (values_.back().is_array()) {
      for (size_t i = 0; i < top.size(); ++i) addObject(top.item(i));
    } else {
      addObject(top);
    }
  }

  std::map<std::string, Resource> nodes, routers, services;
  std::vector<Resource> routes;
  std::optional<Resource> mesh;
  std::set<std::string> listed;  // "virtualNode/NAME", "route/ROUTER/NAME", ...

  std::string missing(const std::string& kind, const std::string& key, const std::string& command) const {
    if (listed.count(kind + "/" + key))
      return "listed by list-" + command + "s but no describe-" + command + " output was given";
    return "no describe-" + command + " output was given";
  }

 private:
  void addObject(const JsonField& doc) {
    if (!doc.present() || !doc.value()->is_object()) {
      doc.fail("expected the JSON object an `aws appmesh describe-*` or `list-*` command prints");
      return;
    }
    for (const auto& key : doc.keys()) {
      auto f = doc[key.c_str()];
      if (key == "virtualNode") {
        describe(f, "virtualNodeName", nodes);
      } else if (key == "virtualRouter") {
        describe(f, "virtualRouterName", routers);
      } else if (key == "virtualService") {
        describe(f, "virtualServiceName", services);
      } else if (key == "route") {
        auto r = resource(f, "routeName");
        if (r) {
          auto router = f["virtualRouterName"].string();
          if (!router)
            f["virtualRouterName"].fail("required key is missing (a describe-route output names its router)");
          r->router = router.value_or("");
          routes.push_back(std::move(*r));
        }
      } else if (key == "mesh") {
        if (auto r = resource(f, "meshName")) mesh = std::move(*r);
      } else if (key == "virtualNodes" || key == "virtualRouters" || key == "virtualServices" || key == "routes" ||
                 key == "meshes") {
        list(f, key);
      } else if (key == "nextToken") {
        f.note("a list output with a nextToken is one page: describe the resources of the other pages too");
      } else if (key == "virtualGateway" || key == "gatewayRoute" || key == "virtualGateways" ||
                 key == "gatewayRoutes") {
        f.unmapped("not imported: virtual gateways are ingress proxies, not sidecars; hawser has no gateway mode");
      } else {
        f.fail(
            "not part of an `aws appmesh describe-*` or `list-*` output (expected virtualNode, virtualRouter, "
            "route, virtualService, mesh, or their lists)");
      }
    }
  }

  std::optional<Resource> resource(const JsonField& f, const char* name_key) {
    if (!f.present() || !f.value()->is_object()) {
      f.fail("expected an object");
      return std::nullopt;
    }
    auto name = f[name_key].string();
    auto mesh_name = f["meshName"].string();
    if (!name) {
      f[name_key].fail("required key is missing");
      return std::nullopt;
    }
    return Resource{f, mesh_name.value_or(""), *name, ""};
  }

  void describe(const JsonField& f, const char* name_key, std::map<std::string, Resource>& into) {
    auto r = resource(f, name_key);
    if (!r) return;
    if (auto it = into.find(r->name); it != into.end() && it->second.mesh == r->mesh) {
      f.fail("\"" + r->name + "\" is described twice (also in " + it->second.root.source() + ")");
      return;
    }
    into.insert_or_assign(r->name, std::move(*r));
  }

  void list(const JsonField& f, const std::string& key) {
    static const std::map<std::string, std::pair<std::string, const char*>> kinds = {
        {"virtualNodes", {"virtualNode", "virtualNodeName"}},
        {"virtualRouters", {"virtualRouter", "virtualRouterName"}},
        {"virtualServices", {"virtualService", "virtualServiceName"}},
        {"routes", {"route", "routeName"}},
        {"meshes", {"mesh", "meshName"}}};
    const auto& [kind, name_key] = kinds.at(key);
    for (size_t i = 0; i < f.size(); ++i) {
      auto item = f.item(i);
      auto name = item[name_key].string();
      if (!name) continue;
      std::string k = kind + "/";
      if (kind == "route") k += item["virtualRouterName"].string().value_or("") + "/";
      listed.insert(k + *name);
    }
    f.consume();  // list outputs only name resources (arn, version, timestamps)
  }

  Ledger& ledger_;
  std::deque<json::value> values_;  // stable addresses for the JsonFields
};

// A candidate for one of the top-level tls files, with where it came from.
struct TlsFile {
  std::string value;
  std::string origin;  // source: path
};

class Importer {
 public:
  Importer(Inputs& in, const ImportOptions& options, Ledger& ledger) : in_(in), options_(options), ledger_(ledger) {}

  YAML::Node run(const Resource& node) {
    region_ = regionOf(node);
    YAML::Node cfg(YAML::NodeType::Map);
    cfg["node"]["service"] = node.name;
    if (!node.mesh.empty()) cfg["node"]["namespace"] = node.mesh;
    auto spec = node.spec();
    if (!spec.present()) node.root["spec"].fail("required key is missing (a describe-virtual-node output has a spec)");

    YAML::Node inbound(YAML::NodeType::Sequence);
    auto listeners = spec["listeners"];
    for (size_t i = 0; i < listeners.size(); ++i) inbound.push_back(inboundListener(listeners.item(i), i, node));

    YAML::Node services(YAML::NodeType::Sequence);
    auto backends = spec["backends"];
    auto defaults = spec["backendDefaults"]["clientPolicy"];
    if (backends.size() == 0) backends.consume();  // an empty list says nothing
    bool defaults_used = false;
    for (size_t i = 0; i < backends.size(); ++i) {
      auto b = backends.item(i);
      auto vs = b["virtualService"];
      if (!vs.present()) {
        b.unmapped("not mapped: a backend is a virtualService");
        continue;
      }
      auto own = vs["clientPolicy"];
      defaults_used = defaults_used || !own.present();
      if (auto s = service(vs, own.present() ? own : defaults, services.size())) services.push_back(*s);
    }
    if (!defaults_used) {
      defaults.note("not used: no backend takes the default client policy");
      defaults.consume();
    }
    spec["serviceDiscovery"].note(
        "how this node's callers find it: imported into their outbound services; register hawser's inbound port "
        "(15006) there, not the app's");
    spec["serviceDiscovery"].consume();

    if (tls_used_) cfg["tls"] = tlsBlock(node);
    if (cloudmap_used_) cfg["discovery"]["cloudmap"]["region"] = region_.empty() ? options_.default_region : region_;
    if (inbound.size() > 0) cfg["inbound"] = inbound;
    auto egress = passthrough();
    if (services.size() > 0) {
      cfg["outbound"]["http_proxy"] = kHttpProxy;
      if (egress) cfg["outbound"]["passthrough"] = *egress;
      cfg["outbound"]["services"] = services;
    }
    cfg["telemetry"]["access_log"]["path"] = accessLog(spec["logging"]);
    if (options_.xray_tracing) {
      auto otlp = cfg["telemetry"]["tracing"]["otlp"];
      otlp["endpoint"] = kXrayCollector;
      if (options_.xray_sampling_rate) otlp["sample_ratio"] = *options_.xray_sampling_rate;
      otlp["propagation"] = flowList({"xray", "w3c"});
      ledger_.report("environment", "ENABLE_ENVOY_XRAY_TRACING",
                     "tracing with X-Ray propagation; hawser exports OTLP/HTTP, so run a collector that exports to "
                     "X-Ray (the ADOT collector) at " +
                         std::string(kXrayCollector) + " in place of the X-Ray daemon",
                     true);
    }

    reportUnconsumed(spec);
    for (const auto* r : used_) reportUnconsumed(r->spec());
    if (in_.mesh) reportUnconsumed(in_.mesh->spec());
    return cfg;
  }

 private:
  static std::string regionOf(const Resource& r) {
    auto arn = r.root["metadata"]["arn"];
    if (arn.present() && arn.value()->is_string()) {
      std::string s(arn.value()->as_string());
      std::vector<std::string> parts;
      std::stringstream ss(s);
      for (std::string p; std::getline(ss, p, ':');) parts.push_back(p);
      if (parts.size() > 3 && !parts[3].empty()) return parts[3];
    }
    return "";
  }

  std::optional<bool> passthrough() {
    if (!in_.mesh) return std::nullopt;
    auto type = in_.mesh->spec()["egressFilter"]["type"];
    auto t = type.string();
    if (!t) return std::nullopt;
    if (*t == "ALLOW_ALL") return true;
    if (*t == "DROP_ALL") return false;
    type.unmapped("not mapped: unknown egress filter \"" + *t + "\"");
    return std::nullopt;
  }

  std::string accessLog(const JsonField& logging) {
    auto file = logging["accessLog"]["file"];
    if (!file.present()) return "off";  // App Mesh logs no requests unless told to
    auto path = file["path"].string().value_or("/dev/stdout");
    file["format"].unmapped(
        "not mapped: hawser's access log is one JSON object per request with fixed fields "
        "(docs/operations.md#logs)");
    if (path == "/dev/stdout") return "stdout";
    return path;
  }

  // -- TLS files: hawser has one certificate, key and CA bundle for every listener and service.

  void offerTls(TlsFile& slot, const JsonField& f, const char* key) {
    auto v = f.string();
    if (!v) return;
    tls_used_ = true;
    if (slot.value.empty()) {
      slot = {*v, f.source() + ": " + f.path()};
    } else if (slot.value != *v) {
      f.unmapped(std::string("not mapped: hawser has one tls.") + key + " for every listener and service; kept " +
                 slot.value + " (" + slot.origin + ")" +
                 (std::string(key) == "ca" ? "; concatenate the bundles into one file" : ""));
    }
  }

  YAML::Node tlsBlock(const Resource& node) {
    YAML::Node t(YAML::NodeType::Map);
    struct {
      TlsFile* slot;
      const char* key;
      const char* what;
    } files[] = {{&cert_, "cert", "certificate chain"}, {&key_, "key", "private key"}, {&ca_, "ca", "CA bundle"}};
    for (auto& f : files) {
      if (f.slot->value.empty()) {
        std::string placeholder = std::string("/etc/hawser/tls/") + f.key + ".pem";
        ledger_.remark(node.root.source(), node.root.path() + ".spec",
                       std::string("hawser's mutual TLS needs tls.") + f.key + " (a " + f.what +
                           " file) and the App Mesh input names none (ACM, SDS or no such field): set to the "
                           "placeholder " +
                           placeholder);
        t[f.key] = placeholder;
      } else {
        t[f.key] = f.slot->value;
      }
    }
    return t;
  }

  void certificate(const JsonField& c) {
    offerTls(cert_, c["file"]["certificateChain"], "cert");
    offerTls(key_, c["file"]["privateKey"], "key");
    if (c["acm"].present()) tls_used_ = true;
    if (c["sds"].present()) tls_used_ = true;
    c["acm"].unmapped(
        "not mapped: hawser reads its certificate from files; issue it from AWS Private CA and deliver the files "
        "(ecs/tls-refresher.sh, docs/security.md#certificates-on-ecs)");
    c["sds"].unmapped("not mapped: hawser has no SDS client; deliver the certificate as files");
  }

  void trust(const JsonField& t) {
    offerTls(ca_, t["file"]["certificateChain"], "ca");
    if (t["acm"].present() || t["sds"].present()) tls_used_ = true;
    t["acm"].unmapped("not mapped: hawser trusts a CA bundle file (tls.ca); export the AWS Private CA certificate");
    t["sds"].unmapped("not mapped: hawser has no SDS client; deliver the CA bundle as a file (tls.ca)");
  }

  // -- inbound

  YAML::Node inboundListener(const JsonField& l, size_t index, const Resource& node) {
    YAML::Node in(YAML::NodeType::Map);
    auto pm = l["portMapping"];
    auto port = pm["port"].integer();
    auto proto = pm["protocol"].string().value_or("http");
    if (!port) pm["port"].fail("required key is missing");
    in["name"] = proto + "-" + std::to_string(port.value_or(0));
    in["listen"] = "0.0.0.0:" + std::to_string(kFirstInboundPort + int(index));
    in["app"] = "127.0.0.1:" + std::to_string(port.value_or(0));
    bool http = proto == "http";
    if (proto == "tcp") {
      in["protocol"] = "tcp";
    } else if (!http) {
      in["protocol"] = "tcp";
      pm["protocol"].unmapped("not supported (hawser has no HTTP/2 yet): " + proto +
                              " is proxied as protocol: tcp, without HTTP routing or policy");
    }

    auto tls = l["tls"];
    if (!tls.present()) {
      in["tls"]["mode"] = "disabled";
    } else {
      auto mode = tls["mode"].string().value_or("STRICT");
      std::string m = mode == "PERMISSIVE" ? "permissive" : mode == "DISABLED" ? "disabled" : "strict";
      if (mode != "STRICT" && mode != "PERMISSIVE" && mode != "DISABLED") {
        tls["mode"].unmapped("not mapped: unknown mode \"" + mode + "\"; strict used");
      }
      in["tls"]["mode"] = m;
      // strict and permissive need hawser's certificate even when the input names no file for it
      // (tlsBlock reports the placeholder it writes then).
      if (m != "disabled") tls_used_ = true;
      certificate(tls["certificate"]);
      auto validation = tls["validation"];
      trust(validation["trust"]);
      auto exact = validation["subjectAlternativeNames"]["match"]["exact"];
      auto sans = exact.strings();
      // hawser reads '*' in authorization.allow as a wildcard: an exact name holding one cannot be
      // expressed, and is left out (never widened into a pattern).
      std::vector<std::string> allow;
      for (const auto& san : sans)
        if (san.find('*') == std::string::npos) allow.push_back(san);
      if (allow.size() != sans.size()) {
        exact.unmapped(
            std::string("not mapped: hawser reads '*' in authorization.allow as a wildcard, so the exact "
                        "names holding one are left out") +
            (allow.empty() ? "; none is left, so no caller is allowed (" + std::string(kNoCaller) + ")" : ""));
        if (allow.empty()) allow.push_back(kNoCaller);
      }
      if (!sans.empty() && m != "disabled") in["authorization"]["allow"] = flowList(allow);
      if (!validation.present() && m != "disabled") {
        tls["mode"].note(
            "without validation App Mesh accepted clients without a certificate; hawser's strict mode always "
            "requires one (mutual TLS)");
      }
    }

    YAML::Node timeouts(YAML::NodeType::Map);
    auto t = l["timeout"];
    for (const auto& key : t.keys()) {
      auto which = t[key.c_str()];
      bool matches = (key == "http" && http) || (key == "tcp" && proto == "tcp");
      if (!matches) {
        which.unmapped(key == "http2" || key == "grpc" ? "not supported (hawser has no HTTP/2 yet)"
                                                       : "not mapped: the listener's protocol is " + proto);
        continue;
      }
      if (auto v = which["perRequest"].duration()) timeouts["request"] = *v;
      if (auto v = idle(which["idle"])) timeouts["idle"] = *v;
    }
    if (timeouts.size() > 0) in["timeouts"] = timeouts;

    auto pool = l["connectionPool"];
    for (const auto& key : pool.keys()) {
      auto p = pool[key.c_str()];
      if (key == "http2" || key == "grpc") {
        p.unmapped("not supported (hawser has no HTTP/2 yet)");
      } else {
        p.unmapped(
            "not mapped: hawser's inbound listeners do not limit connections or pending requests to the local app "
            "(circuit_breaker limits apply to outbound services)");
      }
    }
    std::string callers = " applies to the callers of " + node.name +
                          ": imported into their outbound service when they are imported with this file";
    l["healthCheck"].note("the health check" + callers);
    l["healthCheck"].consume();
    l["outlierDetection"].note("outlier detection" + callers);
    l["outlierDetection"].consume();
    return in;
  }

  std::optional<std::string> idle(const JsonField& f) {
    auto v = f.duration();
    if (v && (*v == "0ms" || *v == "0s")) {
      f.unmapped(
          "not mapped: an idle timeout of 0 disables it in App Mesh, but closes idle connections at once "
          "in hawser; the default (60s) applies");
      return std::nullopt;
    }
    return v;
  }

  // -- outbound

  const Resource* findNode(const JsonField& where, const std::string& name) {
    auto it = in_.nodes.find(name);
    if (it != in_.nodes.end()) return &it->second;
    where.unmapped("not mapped: virtual node \"" + name + "\": " + in_.missing("virtualNode", name, "virtual-node") +
                   "; its discovery, health check and outlier detection are unknown");
    return nullptr;
  }

  // A name App Mesh requires (at least one character): without it the discovery written would
  // not load, so its absence is an input error, as the API would have refused it.
  static std::string requiredName(const JsonField& f) {
    auto s = f.string();
    if (!s) {
      if (!f.present()) f.fail("required key is missing");
      return "";
    }
    if (s->empty()) f.fail("must not be empty");
    return *s;
  }

  NodeDiscovery discoveryOf(const Resource& node) {
    NodeDiscovery d;
    auto sd = node.spec()["serviceDiscovery"];
    auto cm = sd["awsCloudMap"];
    auto dns = sd["dns"];
    if (cm.present()) {
      d.kind = NodeDiscovery::Kind::cloudmap;
      d.ns = requiredName(cm["namespaceName"]);
      d.service = requiredName(cm["serviceName"]);
      auto attrs = cm["attributes"];
      for (size_t i = 0; i < attrs.size(); ++i) {
        auto k = attrs.item(i)["key"].string();
        auto v = attrs.item(i)["value"].string();
        if (k && v) d.attributes.emplace_back(*k, *v);
      }
      cm["ipPreference"].unmapped("not mapped: hawser dials a Cloud Map instance's AWS_INSTANCE_IPV4");
    } else if (dns.present()) {
      d.kind = NodeDiscovery::Kind::dns;
      d.hostname = requiredName(dns["hostname"]);
      if (auto rt = dns["responseType"].string(); rt && *rt == "LOADBALANCER") {
        dns["responseType"].unmapped("not mapped: hawser balances over every address the name resolves to (ENDPOINTS)");
      }
      dns["ipPreference"].unmapped("not mapped: hawser has no IP family preference for DNS discovery");
    } else {
      sd.unmapped("not mapped: the node has no awsCloudMap or dns service discovery");
    }
    return d;
  }

  size_t listenerIndex(const Resource& node, std::optional<int64_t> port) {
    auto ls = node.spec()["listeners"];
    if (!port) return 0;
    for (size_t i = 0; i < ls.size(); ++i) {
      auto p = ls.item(i)["portMapping"]["port"];
      if (p.present() && p.value()->is_number() && p.value()->to_number<int64_t>() == *port) return i;
    }
    return 0;
  }

  std::optional<YAML::Node> healthCheck(const JsonField& hc, const JsonField& listener) {
    if (!hc.present()) return std::nullopt;
    auto proto = hc["protocol"].string().value_or("http");
    if (proto != "http") {
      hc.unmapped("not mapped: protocol " + proto + ": hawser's active health checks are HTTP GET requests only");
      return std::nullopt;
    }
    YAML::Node h(YAML::NodeType::Map);
    auto path = hc["path"].string().value_or("/");
    h["path"] = path.empty() || path[0] != '/' ? "/" + path : path;
    auto interval = hc["intervalMillis"].integer();
    auto timeout = hc["timeoutMillis"].integer();
    if (interval) h["interval"] = millisDuration(*interval);
    if (timeout) {
      if (interval && *timeout > *interval) {
        hc["timeoutMillis"].unmapped("not mapped as given: hawser's health_check.timeout may not exceed interval; " +
                                     millisDuration(*interval) + " used");
        h["timeout"] = millisDuration(*interval);
      } else {
        h["timeout"] = millisDuration(*timeout);
      }
    }
    if (auto v = hc["healthyThreshold"].integer()) h["healthy"] = std::clamp<int64_t>(*v, 1, 100);
    if (auto v = hc["unhealthyThreshold"].integer()) h["unhealthy"] = std::clamp<int64_t>(*v, 1, 100);
    auto port = hc["port"];
    auto lport = listener["portMapping"]["port"];
    if (port.present() && !(lport.present() && *port.value() == *lport.value())) {
      port.unmapped(
          "not mapped: hawser checks the endpoint its traffic goes to (the peer's inbound listener, "
          "which passes the check to the app on the listener's port)");
    }
    port.consume();
    return h;
  }

  std::optional<YAML::Node> outlierDetection(const JsonField& od) {
    if (!od.present()) return std::nullopt;
    YAML::Node o(YAML::NodeType::Map);
    if (auto v = od["maxServerErrors"].integer()) {
      if (*v > 1000) od["maxServerErrors"].unmapped("not mapped as given: hawser counts at most 1000; 1000 used");
      o["consecutive_5xx"] = std::clamp<int64_t>(*v, 1, 1000);
    }
    o["consecutive_gateway_errors"] = 0;  // App Mesh ejects on 5xx only
    if (auto v = od["interval"].duration()) {
      if (*v == "0ms" || *v == "0s")
        od["interval"].unmapped("not mapped: hawser's interval must be greater than 0; the default (10s) applies");
      else
        o["interval"] = *v;
    }
    if (auto v = od["baseEjectionDuration"].duration()) {
      if (*v == "0ms" || *v == "0s")
        od["baseEjectionDuration"].unmapped("not mapped: must be greater than 0 in hawser; the default (30s) applies");
      else
        o["base_ejection"] = *v;
    }
    if (auto v = od["maxEjectionPercent"].integer()) o["max_ejection_percent"] = std::clamp<int64_t>(*v, 0, 100);
    return o;
  }

  // Per-service settings hawser has once, taken from the target nodes' listeners.
  void fromTargets(YAML::Node& svc, const std::vector<Target>& targets) {
    std::set<std::string> seen;
    std::string first_node;
    for (const auto& t : targets) {
      if (!t.node || !seen.insert(t.node->name + "/" + std::to_string(t.listener_index)).second) continue;
      if (first_node.empty()) first_node = t.node->name;
      auto listener = t.node->spec()["listeners"].item(t.listener_index);
      struct {
        const char* key;
        JsonField field;
        std::optional<YAML::Node> value;
      } parts[] = {{"health_check", listener["healthCheck"], healthCheck(listener["healthCheck"], listener)},
                   {"outlier_detection", listener["outlierDetection"], outlierDetection(listener["outlierDetection"])}};
      for (auto& p : parts) {
        if (!p.value) continue;
        if (!svc[p.key]) {
          svc[p.key] = *p.value;
        } else if (emitted(svc[p.key]) != emitted(*p.value)) {
          p.field.unmapped(std::string("not mapped: hawser has one ") + p.key + " per service; the one of " +
                           first_node + " is used");
        }
      }
    }
  }

  // The discovery block for the targets, and each target's subset (attributes
  // that tell its node's endpoints apart), or why the targets cannot be split.
  struct Placement {
    YAML::Node discovery;
    std::map<std::string, Attributes> subsets;  // node name -> selector
    std::string unsplittable;                   // empty: subsets are usable
  };

  Placement place(const std::string& service_name, const std::vector<Target>& targets) {
    Placement p;
    std::vector<std::pair<const Resource*, NodeDiscovery>> nodes;
    std::set<std::string> names;
    size_t listener_index = 0;
    for (const auto& t : targets) {
      if (t.node && names.insert(t.node->name).second) {
        nodes.emplace_back(t.node, discoveryOf(*t.node));
        if (nodes.size() == 1) listener_index = t.listener_index;
      }
    }
    auto fallback = [&](const std::string& host) {
      p.discovery["dns"]["a"] = host;
      p.discovery["dns"]["port"] = kFirstInboundPort;
    };
    if (nodes.empty() || nodes.front().second.kind == NodeDiscovery::Kind::none) {
      fallback(service_name);
      p.unsplittable = "the target nodes are unknown";
      return p;
    }
    const auto& first = nodes.front().second;
    bool same_place = std::all_of(nodes.begin(), nodes.end(), [&](const auto& n) {
      return n.second.kind == first.kind && n.second.ns == first.ns && n.second.service == first.service &&
             n.second.hostname == first.hostname;
    });
    if (first.kind == NodeDiscovery::Kind::dns) {
      p.discovery["dns"]["a"] = first.hostname;
      p.discovery["dns"]["port"] = kFirstInboundPort + int(listener_index);
      if (nodes.size() > 1) {
        p.unsplittable = same_place ? "the target nodes share the DNS name " + first.hostname
                                    : "the target nodes are found under different names";
      }
      return p;
    }
    cloudmap_used_ = true;
    Attributes common;
    for (const auto& a : first.attributes) {
      bool everywhere = std::all_of(nodes.begin(), nodes.end(), [&](const auto& n) {
        return std::find(n.second.attributes.begin(), n.second.attributes.end(), a) != n.second.attributes.end();
      });
      if (everywhere && same_place) common.push_back(a);
    }
    auto cm = p.discovery["cloudmap"];
    cm["namespace"] = first.ns;
    cm["service"] = first.service;
    if (!common.empty()) cm["query"] = flowMap(common);
    if (!same_place) {
      p.unsplittable =
          "the target nodes are in different Cloud Map services (or use DNS); hawser splits the "
          "endpoints of one service by their attributes";
      return p;
    }
    std::set<Attributes> distinct;
    for (const auto& [node, d] : nodes) {
      Attributes own;
      for (const auto& a : d.attributes) {
        if (std::find(common.begin(), common.end(), a) == common.end()) own.push_back(a);
      }
      if (nodes.size() > 1 && (own.empty() || !distinct.insert(own).second)) {
        p.unsplittable = "the Cloud Map attributes of " + node->name + " do not tell its instances apart";
      }
      p.subsets[node->name] = own;
    }
    return p;
  }

  std::optional<YAML::Node> service(const JsonField& vs, const JsonField& policy, size_t index) {
    auto name = vs["virtualServiceName"].string();
    if (!name) {
      vs["virtualServiceName"].fail("required key is missing");
      return std::nullopt;
    }
    YAML::Node svc(YAML::NodeType::Map);
    svc["name"] = *name;
    svc["alias"] = "127.0.0.1:" + std::to_string(kFirstAliasPort + int(index));
    std::vector<Target> targets;
    std::vector<BuiltRoute> routes;
    std::string protocol = "http";
    tcp_idle_.clear();

    auto it = in_.services.find(*name);
    if (it == in_.services.end()) {
      vs["virtualServiceName"].unmapped("not mapped: \"" + *name +
                                        "\": " + in_.missing("virtualService", *name, "virtual-service") +
                                        "; discovery is a guess (DNS " + *name + ")");
    } else {
      used_.push_back(&it->second);
      auto provider = it->second.spec()["provider"];
      auto pn = provider["virtualNode"];
      auto pr = provider["virtualRouter"];
      if (pn.present()) {
        auto node_name = pn["virtualNodeName"].string().value_or("");
        if (const auto* n = findNode(pn, node_name)) targets.push_back({n, pn, 1, 0});
      } else if (pr.present()) {
        protocol = routerRoutes(pr, *name, targets, routes);
      } else {
        provider.unmapped("not mapped: the virtual service has no provider (App Mesh sends its traffic nowhere)");
      }
    }
    if (protocol == "tcp") {
      svc["protocol"] = "tcp";
      // hawser's routes apply to HTTP requests only (the config loader refuses them on a tcp service).
      for (auto& r : routes) {
        r.where.unmapped("not mapped: " + *name +
                         " is proxied as protocol: tcp (its virtual router's listener), so this HTTP route is left "
                         "out; connections go to every target's endpoints");
      }
      routes.clear();
    }
    auto placement = place(*name, targets);
    svc["discovery"] = placement.discovery;
    svc["tls"] = clientTls(policy);
    fromTargets(svc, targets);
    if (!routes.empty()) {
      YAML::Node list(YAML::NodeType::Sequence);
      for (auto& r : routes) {
        addSplit(r, placement);
        list.push_back(r.node);
      }
      svc["routes"] = list;
    }
    if (!tcp_idle_.empty()) svc["timeouts"]["idle"] = tcp_idle_;
    return svc;
  }

  // A route, and its targets until the placement of every target of the service is known.
  struct BuiltRoute {
    YAML::Node node;
    std::vector<Target> targets;
    JsonField where;  // its weightedTargets
  };

  void addSplit(BuiltRoute& r, const Placement& placement) {
    if (placement.subsets.size() < 2 && placement.unsplittable.empty()) return;  // one node: every endpoint
    if (!placement.unsplittable.empty()) {
      r.where.unmapped("not mapped: hawser cannot split between these targets: " + placement.unsplittable +
                       "; the route sends to every endpoint of the service");
      return;
    }
    YAML::Node split(YAML::NodeType::Sequence);
    for (const auto& t : r.targets) {
      YAML::Node s(YAML::NodeType::Map);
      s["subset"] = flowMap(placement.subsets.at(t.node->name));
      s["weight"] = t.weight;
      s["name"] = t.node->name;
      split.push_back(s);
    }
    r.node["split"] = split;
  }

  // The routes of a virtual router, in App Mesh's order; returns the service protocol.
  std::string routerRoutes(const JsonField& provider, const std::string& service_name, std::vector<Target>& targets,
                           std::vector<BuiltRoute>& out) {
    auto router_name = provider["virtualRouterName"].string().value_or("");
    auto rit = in_.routers.find(router_name);
    if (rit == in_.routers.end()) {
      provider.unmapped("not mapped: virtual router \"" + router_name + "\": " +
                        in_.missing("virtualRouter", router_name, "virtual-router") + "; its routes are unknown");
      return "http";
    }
    used_.push_back(&rit->second);
    std::string protocol = "http";
    std::set<int64_t> ports;
    auto ls = rit->second.spec()["listeners"];
    for (size_t i = 0; i < ls.size(); ++i) {
      auto pm = ls.item(i)["portMapping"];
      if (auto p = pm["port"].integer()) ports.insert(*p);
      auto proto = pm["protocol"].string().value_or("http");
      if (proto == "tcp") {
        protocol = "tcp";
      } else if (proto != "http") {
        protocol = "tcp";
        pm["protocol"].unmapped("not supported (hawser has no HTTP/2 yet): " + service_name +
                                " is proxied as protocol: tcp");
      }
    }
    std::vector<const Resource*> routes;
    for (const auto& r : in_.routes) {
      if (r.router == router_name) routes.push_back(&r);
    }
    for (const auto& name : in_.listed) {
      std::string prefix = "route/" + router_name + "/";
      if (name.rfind(prefix, 0) == 0) {
        auto route_name = name.substr(prefix.size());
        bool described = std::any_of(routes.begin(), routes.end(), [&](auto* r) { return r->name == route_name; });
        if (!described) {
          provider.unmapped("not mapped: route \"" + route_name + "\" of " + router_name +
                            " is listed by list-routes but no describe-route output was given");
        }
      }
    }
    if (routes.empty()) provider.unmapped("not mapped: no describe-route output for virtual router " + router_name);
    // App Mesh matches by priority (0 first); routes without one after, longest prefix first.
    auto key = [](const Resource* r) {
      auto p = r->spec()["priority"];
      int64_t prio = p.present() && p.value()->is_number() ? p.value()->to_number<int64_t>() : 1'000'000;
      auto pre = r->spec()["httpRoute"]["match"]["prefix"];
      size_t len = pre.present() && pre.value()->is_string() ? pre.value()->as_string().size() : 0;
      return std::make_pair(prio, -int64_t(len));
    };
    std::stable_sort(routes.begin(), routes.end(), [&](auto* a, auto* b) { return key(a) < key(b); });
    for (const auto* r : routes) {
      used_.push_back(r);
      auto spec = r->spec();
      spec["priority"].integer();
      if (spec["httpRoute"].present()) {
        if (auto built = httpRoute(spec["httpRoute"], ports)) {
          targets.insert(targets.end(), built->targets.begin(), built->targets.end());
          out.push_back(std::move(*built));
        }
      } else if (spec["tcpRoute"].present()) {
        tcpRoute(spec["tcpRoute"], targets);
      } else {
        for (const char* k : {"http2Route", "grpcRoute"}) {
          spec[k].unmapped("not supported (hawser has no HTTP/2 yet): route \"" + r->name + "\" is left out");
        }
      }
    }
    return protocol;
  }

  std::vector<Target> weightedTargets(const JsonField& action) {
    std::vector<Target> out;
    auto wt = action["weightedTargets"];
    for (size_t i = 0; i < wt.size(); ++i) {
      auto t = wt.item(i);
      auto node_name = t["virtualNode"].string().value_or("");
      auto weight = t["weight"].integer().value_or(0);
      auto port = t["port"].integer();
      const auto* n = findNode(t["virtualNode"], node_name);
      if (!n) continue;
      out.push_back({n, t, weight, listenerIndex(*n, port)});
    }
    return out;
  }

  void tcpRoute(const JsonField& route, std::vector<Target>& targets) {
    auto mine = weightedTargets(route["action"]);
    size_t weighted = std::count_if(mine.begin(), mine.end(), [](const Target& t) { return t.weight > 0; });
    if (weighted > 1) {
      route["action"]["weightedTargets"].unmapped(
          "not mapped: hawser does not split TCP connections by weight; connections are balanced over every "
          "target's endpoints");
    }
    route["match"]["port"].integer();
    if (auto v = idle(route["timeout"]["idle"])) tcp_idle_ = *v;
    targets.insert(targets.end(), mine.begin(), mine.end());
  }

  // One App Mesh httpRoute as a hawser route; std::nullopt when its match cannot be expressed.
  std::optional<BuiltRoute> httpRoute(const JsonField& route, const std::set<int64_t>& ports) {
    auto match = route["match"];
    std::vector<std::string> problems;
    auto leave = [&](const JsonField& f, const std::string& why) {
      f.unmapped("not mapped: " + why + "; this route is left out (its requests take the next route that matches)");
      problems.push_back(why);
    };
    YAML::Node r(YAML::NodeType::Map);
    if (auto p = match["prefix"].string()) {
      r["match"]["prefix"] = p->empty() || (*p)[0] != '/' ? "/" + *p : *p;
    } else if (!match["path"].present()) {
      r["match"]["prefix"] = "/";
    }
    if (match["path"].present()) leave(match["path"], "hawser routes match a path prefix only (no exact or regex)");
    if (match["method"].present()) leave(match["method"], "hawser routes do not match the method");
    if (match["queryParameters"].present()) leave(match["queryParameters"], "hawser routes do not match the query");
    if (match["scheme"].present()) leave(match["scheme"], "hawser routes do not match the scheme");
    if (auto port = match["port"].integer(); port && ports.size() > 1) {
      leave(match["port"], "hawser has one listener per service; routes do not match the port");
    }
    auto headers = match["headers"];
    YAML::Node h(YAML::NodeType::Map);
    for (size_t i = 0; i < headers.size(); ++i) {
      auto hd = headers.item(i);
      auto name = hd["name"].string().value_or("");
      auto exact = hd["match"]["exact"].string();
      bool invert = hd["invert"].boolean().value_or(false);
      if (!exact || invert || hd["match"].keys().size() != 1) {
        leave(hd, "header \"" + name +
                      "\": hawser routes match a header's exact value only (no invert, prefix, "
                      "suffix, regex, range or presence)");
        continue;
      }
      h[lower(name)] = *exact;
    }
    if (h.size() > 0) r["match"]["headers"] = h;
    if (!problems.empty()) {
      route.consume();
      return std::nullopt;
    }
    BuiltRoute built{r, weightedTargets(route["action"]), route["action"]["weightedTargets"]};
    if (auto retry = retryPolicy(route["retryPolicy"])) r["retry"] = *retry;
    YAML::Node timeouts(YAML::NodeType::Map);
    if (auto v = route["timeout"]["perRequest"].duration()) timeouts["request"] = *v;
    if (auto v = idle(route["timeout"]["idle"])) timeouts["idle"] = *v;
    if (timeouts.size() > 0) r["timeouts"] = timeouts;
    return built;
  }

  std::optional<YAML::Node> retryPolicy(const JsonField& rp) {
    if (!rp.present()) return std::nullopt;
    YAML::Node r(YAML::NodeType::Map);
    auto max = rp["maxRetries"].integer().value_or(0);
    if (max > 9) rp["maxRetries"].unmapped("not mapped as given: hawser makes at most 10 attempts; 9 retries used");
    r["attempts"] = std::clamp<int64_t>(max, 0, 9) + 1;
    if (auto v = rp["perRetryTimeout"].duration()) r["per_try_timeout"] = *v;
    std::vector<std::string> on;
    auto add = [&](const char* c) {
      if (std::find(on.begin(), on.end(), c) == on.end()) on.push_back(c);
    };
    auto http = rp["httpRetryEvents"];
    for (size_t i = 0; i < http.size(); ++i) {
      auto e = http.item(i);
      auto ev = e.string().value_or("");
      if (ev == "server-error") {
        add("server-error");
      } else if (ev == "gateway-error") {
        add("gateway-error");
        add("reset");  // App Mesh's gateway-error includes Envoy's reset
      } else if (ev == "client-error") {
        add("retriable-status:409");
      } else if (ev == "stream-error") {
        e.unmapped("not supported (hawser has no HTTP/2 yet): a refused stream cannot happen over HTTP/1.1");
      } else {
        e.unmapped("not mapped: unknown retry event \"" + ev + "\"");
      }
    }
    auto tcp = rp["tcpRetryEvents"];
    for (size_t i = 0; i < tcp.size(); ++i) {
      auto e = tcp.item(i);
      auto ev = e.string().value_or("");
      if (ev == "connection-error")
        add("connect-failure");
      else
        e.unmapped("not mapped: unknown retry event \"" + ev + "\"");
    }
    r["on"] = flowList(on);
    r["allow_non_idempotent"] = true;  // Envoy retries every method as the policy says
    return r;
  }

  YAML::Node clientTls(const JsonField& policy) {
    YAML::Node t(YAML::NodeType::Map);
    auto tls = policy["tls"];
    if (!tls.present()) {
      t["mode"] = "disabled";
      return t;
    }
    if (!tls["enforce"].boolean().value_or(true)) {
      tls["enforce"].note("enforce: false: the backend is called in plaintext (tls.mode: disabled)");
      t["mode"] = "disabled";
      tls.consume();
      return t;
    }
    t["mode"] = "mutual";
    if (tls["ports"].size() > 0) {
      tls["ports"].unmapped("not mapped: hawser applies a service's tls to every port of it");
    }
    certificate(tls["certificate"]);
    auto validation = tls["validation"];
    trust(validation["trust"]);
    tls_used_ = true;
    auto sans = validation["subjectAlternativeNames"]["match"]["exact"].strings();
    if (sans.empty()) {
      validation.note("no subjectAlternativeNames: any certificate the CA signed is accepted (tls.sans: [\"*\"])");
      sans.push_back("*");
    }
    t["sans"] = flowList(sans);
    return t;
  }

  Inputs& in_;
  const ImportOptions& options_;
  Ledger& ledger_;
  std::string region_;
  bool tls_used_ = false;
  bool cloudmap_used_ = false;
  TlsFile cert_, key_, ca_;
  std::vector<const Resource*> used_;
  std::string tcp_idle_;
};

}  // namespace

bool parseVirtualNodeName(const std::string& text, std::string& mesh, std::string& name) {
  if (text.find('/') == std::string::npos) {
    mesh.clear();
    name = text;
    return !text.empty();
  }
  std::vector<std::string> parts;
  std::stringstream ss(text);
  for (std::string p; std::getline(ss, p, '/');) parts.push_back(p);
  if (parts.size() != 4 || parts[0] != "mesh" || parts[2] != "virtualNode" || parts[1].empty() || parts[3].empty())
    return false;
  mesh = parts[1];
  name = parts[3];
  return true;
}

std::variant<ImportResult, InputError> importAppMesh(const std::vector<InputDocument>& documents,
                                                     const ImportOptions& options) {
  Ledger ledger;
  Inputs in(ledger);
  for (const auto& d : documents) {
    in.add(d);
    if (ledger.error()) return *ledger.error();
  }
  std::string mesh, name;
  if (!parseVirtualNodeName(options.virtual_node, mesh, name)) {
    return InputError{"--virtual-node", "",
                      "expected NAME or mesh/<mesh>/virtualNode/<name>, got \"" + options.virtual_node + "\""};
  }
  auto it = in.nodes.find(name);
  if (it == in.nodes.end() || (!mesh.empty() && it->second.mesh != mesh)) {
    std::string found;
    for (const auto& [n, r] : in.nodes) found += (found.empty() ? "" : ", ") + r.mesh + "/" + n;
    return InputError{"--virtual-node", "",
                      "virtual node \"" + options.virtual_node +
                          "\" is not described in the input (described: " + (found.empty() ? "none" : found) + ")"};
  }
  Importer importer(in, options, ledger);
  auto cfg = importer.run(it->second);
  if (ledger.error()) return *ledger.error();

  YAML::Emitter out;
  out << YAML::Comment("hawser configuration for App Mesh virtual node " + it->second.mesh + "/" + name +
                       ", written by `hawser import appmesh`")
      << YAML::Newline;
  out << cfg;
  ImportResult result;
  result.yaml = std::string(out.c_str()) + "\n";
  result.findings = ledger.findings();
  result.unmapped = ledger.unmappedCount();
  return result;
}

}  // namespace hawser::config::appmesh
