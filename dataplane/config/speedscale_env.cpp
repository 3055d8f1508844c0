#include "dataplane/config/speedscale_env.h"

#include <charconv>
#include <filesystem>
#include <sstream>

#include "dataplane/config/config.h"

namespace hawser::config {
namespace {

[[noreturn]] void envFail(const char* name, const std::string& problem) {
  throw ConfigError(std::string("environment ") + name + ": " + problem);
}

unsigned port(const EnvLookup& env, const char* name, unsigned fallback) {
  auto v = env(name);
  if (!v) return fallback;
  unsigned p = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), p);
  if (v->empty() || ec != std::errc() || end != v->data() + v->size() || p == 0 || p > 65535)
    envFail(name, "expected a port (1-65535), got \"" + *v + "\"");
  return p;
}

// Quoted for YAML (values come from the environment: never let one become structure).
std::string q(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) envFail("(value)", "control characters are not allowed");
    out += c;
  }
  return out + "\"";
}

bool truthy(const EnvLookup& env, const char* name) {
  auto v = env(name);
  if (!v || v->empty() || *v == "false" || *v == "0") return false;
  if (*v == "true" || *v == "1") return true;
  envFail(name, "expected true or false, got \"" + *v + "\"");
}

}  // namespace

std::optional<std::string> speedscaleConfigYaml(const EnvLookup& env) {
  static const char* kMapped[] = {"REVERSE_PROXY_PORT", "PROXY_TYPE",   "FORWARDER_ADDR", "PROXY_IN_PORT",
                                  "PROXY_OUT_PORT",     "TLS_CERT_DIR", "CAPTURE_MODE"};
  bool any = false;
  for (const char* n : kMapped) any = any || env(n).has_value();
  if (!any) return std::nullopt;

  const std::string type = env("PROXY_TYPE").value_or("dual");
  if (type != "reverse" && type != "forward" && type != "dual")
    envFail("PROXY_TYPE", "expected reverse, forward or dual, got \"" + type + "\"");
  const bool reverse = type != "forward", forward = type != "reverse";
  std::string protocol = env("PROXY_PROTOCOL").value_or("http");
  if (protocol == "tcp:http" || protocol == "http:http") protocol = "http";
  if (protocol != "http" && protocol != "tcp")
    envFail("PROXY_PROTOCOL", "expected http or tcp, got \"" + protocol + "\"");
  if (truthy(env, "TLS_OUT_UNWRAP"))
    envFail("TLS_OUT_UNWRAP", "outbound TLS unwrap is not supported yet (docs/capture.md); set it to false");

  std::ostringstream y;
  const auto ns = env("APP_POD_NAMESPACE").value_or("default");
  const auto service = env("APP_LABEL").value_or("app");
  y << "node:\n  service: " << q(service) << "\n  namespace: " << q(ns) << "\n";
  if (auto pod = env("APP_POD_NAME")) y << "  instance_id: " << q(*pod) << "\n";
  y << "admin:\n  address: " << q(env("HAWSER_ADMIN_ADDRESS").value_or("127.0.0.1:9901")) << "\n";

  bool tls = false;
  if (auto dir = env("TLS_CERT_DIR")) {
    namespace fs = std::filesystem;
    const auto crt = *dir + "/tls.crt", key = *dir + "/tls.key";
    auto ca = *dir + "/ca.crt";
    std::error_code ec;
    if (!fs::exists(crt, ec) || !fs::exists(key, ec)) envFail("TLS_CERT_DIR", *dir + " must hold tls.crt and tls.key");
    if (!fs::exists(ca, ec)) ca = crt;  // a bundle with the chain: tls.crt verifies peers issued by the same CA
    y << "tls:\n  cert: " << q(crt) << "\n  key: " << q(key) << "\n  ca: " << q(ca) << "\n";
    tls = true;
  }
  // hawser's own: the address the listeners bind (goproxy binds every interface).
  const auto host = env("HAWSER_LISTEN_HOST").value_or("0.0.0.0");
  const auto bind = [&](unsigned p) {
    return q((host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(p));
  };
  if (reverse) {
    auto app_port = env("REVERSE_PROXY_PORT");
    if (!app_port) envFail("REVERSE_PROXY_PORT", "required with PROXY_TYPE " + type + " (the app's port)");
    const unsigned app = port(env, "REVERSE_PROXY_PORT", 0);
    y << "inbound:\n  - name: \"ingress\"\n    listen: " << bind(port(env, "PROXY_IN_PORT", 4143)) << "\n"
      << "    app: " << q(env("REVERSE_PROXY_HOST").value_or("127.0.0.1") + ":" + std::to_string(app)) << "\n"
      << "    protocol: " << protocol
      << "\n"
      // goproxy's callers are not sidecars: plaintext is accepted, and mTLS from ones that have certificates.
      << "    tls:\n      mode: " << (tls ? "permissive" : "disabled") << "\n";
  }
  if (forward) {
    y << "outbound:\n  http_proxy: " << bind(port(env, "PROXY_OUT_PORT", 4140)) << "\n  passthrough: true\n";
  }
  const auto mode = env("CAPTURE_MODE").value_or("proxy");
  if (mode != "proxy" && mode != "off") envFail("CAPTURE_MODE", "expected proxy or off, got \"" + mode + "\"");
  if (auto fwd = env("FORWARDER_ADDR"); fwd && mode == "proxy") {
    y << "capture:\n  enabled: true\n  forwarder: " << q(*fwd) << "\n";
    if (!tls) y << "  tls:\n    mode: disabled\n";
  }
  return y.str();
}

}  // namespace hawser::config
