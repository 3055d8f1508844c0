// telemetry.tracing.otlp, and the OTEL_* variables of the OpenTelemetry SDK
// environment specification: a key the file sets wins, the environment
// fills what it leaves out. A malformed variable is a config error naming it.
#include <algorithm>
#include <cstdlib>
#include <functional>

#include "dataplane/config/field.h"
#include "dataplane/config/tracing_config.h"
#include "telemetry/resource.h"

namespace hawser::config {
namespace {

using Env = std::function<std::optional<std::string>(const char*)>;

[[noreturn]] void envFail(const char* name, const std::string& problem) {
  throw ConfigError(std::string("environment ") + name + ": " + problem);
}

// The first of the signal-specific and the general variable that is set.
std::optional<std::pair<const char*, std::string>> either(const Env& env, const char* specific, const char* general) {
  if (auto v = env(specific)) return std::make_pair(specific, *v);
  if (auto v = env(general)) return std::make_pair(general, *v);
  return std::nullopt;
}

// http(s)://host[:port][/path]; a URL without a path gets /v1/traces.
std::optional<std::string> otlpUrl(std::string url, bool append_path, std::string& problem, bool as_is = false) {
  const bool https = url.rfind("https://", 0) == 0;
  if (!https && url.rfind("http://", 0) != 0) {
    problem = "expected an http:// or https:// URL, got \"" + url + "\"";
    return std::nullopt;
  }
  auto host_start = https ? 8 : 7;
  auto slash = url.find('/', host_start);
  auto authority = url.substr(host_start, slash == std::string::npos ? std::string::npos : slash - host_start);
  if (authority.empty() || authority.find_first_of(" @?#") != std::string::npos) {
    problem = "invalid host in URL \"" + url + "\"";
    return std::nullopt;
  }
  if (as_is) return url;
  if (append_path) {
    while (!url.empty() && url.back() == '/') url.pop_back();
    return url + "/v1/traces";
  }
  if (slash == std::string::npos || slash + 1 == url.size()) {
    while (!url.empty() && url.back() == '/') url.pop_back();
    url += "/v1/traces";
  }
  return url;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

// A header field name must be a token (RFC 9110 §5.6.2); a value no CR, LF or NUL.
bool validHeader(std::string_view name, std::string_view value) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) ||
          std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos))
      return false;
  }
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

uint64_t envNumber(const char* name, const std::string& v, uint64_t min, uint64_t max) {
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size()) envFail(name, "expected a whole number, got \"" + v + "\"");
  if (n < min || n > max) {
    envFail(name, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + v);
  }
  return n;
}

void setProtocol(Tracing& t, const std::string& v, const std::function<void(const std::string&)>& fail) {
  if (v == "http/protobuf") {
    t.json = false;
  } else if (v == "http/json") {
    t.json = true;
  } else if (v == "grpc") {
    fail("OTLP/gRPC is not supported; use http/protobuf (port 4318 on a collector)");
  } else {
    fail("invalid value \"" + v + "\" (expected one of: http/protobuf, http/json)");
  }
}

void setCompression(Tracing& t, const std::string& v, const std::function<void(const std::string&)>& fail) {
  if (v == "gzip") {
    t.gzip = true;
  } else if (v == "none") {
    t.gzip = false;
  } else {
    fail("invalid value \"" + v + "\" (expected one of: gzip, none)");
  }
}
}  // namespace

std::optional<Tracing> readTracing(const Field& otlp,
                                   const std::function<std::optional<std::string>(const char*)>& env) {
  const bool in_file = otlp.present();
  if (auto off = env("OTEL_SDK_DISABLED"); off && iequals(*off, "true")) return std::nullopt;
  if (!in_file) {
    if (auto exporter = env("OTEL_TRACES_EXPORTER")) {
      if (*exporter == "none") return std::nullopt;
      if (*exporter != "otlp")
        envFail("OTEL_TRACES_EXPORTER", "only otlp (or none) is supported, got \"" + *exporter + "\"");
    }
  }
  if (in_file) {
    otlp.expectMap({"endpoint", "protocol", "headers", "compression", "timeout", "sample_ratio", "propagation", "batch",
                    "max_queue_spans"});
  }
  Tracing t;
  std::string problem;
  if (auto f = otlp.child("endpoint"); in_file && f.present()) {
    auto url = otlpUrl(f.nonEmptyString(), false, problem);
    if (!url) f.fail(problem);
    t.endpoint = *url;
  } else if (auto v = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
    // Used as is: the specification's signal URL, no path appended.
    auto url = otlpUrl(*v, false, problem, /*as_is=*/true);
    if (!url) envFail("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", problem);
    t.endpoint = *url;
  } else if (auto base = env("OTEL_EXPORTER_OTLP_ENDPOINT")) {
    auto url = otlpUrl(*base, true, problem);
    if (!url) envFail("OTEL_EXPORTER_OTLP_ENDPOINT", problem);
    t.endpoint = *url;
  } else if (in_file) {
    otlp.child("endpoint").fail("required key is missing (or set OTEL_EXPORTER_OTLP_ENDPOINT)");
  } else {
    return std::nullopt;
  }

  if (auto f = otlp.child("protocol"); in_file && f.present()) {
    setProtocol(t, f.string(), [&](const std::string& p) { f.fail(p); });
  } else if (auto v = either(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")) {
    setProtocol(t, v->second, [&](const std::string& p) { envFail(v->first, p); });
  }
  if (auto f = otlp.child("compression"); in_file && f.present()) {
    setCompression(t, f.string(), [&](const std::string& p) { f.fail(p); });
  } else if (auto v = either(env, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION")) {
    setCompression(t, v->second, [&](const std::string& p) { envFail(v->first, p); });
  }
  if (auto f = otlp.child("timeout"); in_file && f.present()) {
    t.timeout = f.duration();
    if (t.timeout.count() == 0) f.fail("must be greater than 0");
  } else if (auto v = either(env, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")) {
    t.timeout = Duration(envNumber(v->first, v->second, 1, 3'600'000));
  } else if (auto e = env("OTEL_BSP_EXPORT_TIMEOUT")) {
    t.timeout = Duration(envNumber("OTEL_BSP_EXPORT_TIMEOUT", *e, 1, 3'600'000));
  }

  // Headers: the file's, then the environment's names the file does not set.
  if (auto f = otlp.child("headers"); in_file && f.present()) {
    t.headers = f.stringMap();
    for (const auto& [k, v] : t.headers) {
      if (!validHeader(k, v)) f.child(k).fail("not a valid HTTP header field");
    }
  }
  if (auto v = either(env, "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS")) {
    auto list = telemetry::parseOtelList(v->second);
    // A malformed value may hold a secret: never echo it.
    if (!list) envFail(v->first, "expected name=value pairs separated by commas (values percent-encoded)");
    for (auto& [key, value] : *list) {
      if (!validHeader(key, value)) envFail(v->first, "\"" + key + "\" is not a valid HTTP header field");
      bool set_in_file = false;
      for (const auto& h : t.headers) set_in_file |= iequals(h.first, key);
      if (!set_in_file) t.headers.emplace_back(std::move(key), std::move(value));
    }
  }

  if (auto f = otlp.child("sample_ratio"); in_file && f.present()) {
    t.sampler.root = telemetry::Sampler::Root::ratio;
    t.sampler.ratio = f.ratio();
    t.sampler.parent_based = true;
  } else if (auto name = env("OTEL_TRACES_SAMPLER")) {
    const auto arg = env("OTEL_TRACES_SAMPLER_ARG").value_or("");
    if (!arg.empty() && name->find("traceidratio") != std::string::npos) {
      double r = -1;
      auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), r);
      if (ec != std::errc() || end != arg.data() + arg.size() || !(r >= 0.0 && r <= 1.0)) {
        envFail("OTEL_TRACES_SAMPLER_ARG", "expected a number between 0 and 1, got \"" + arg + "\"");
      }
    }
    auto s = telemetry::samplerFromEnvironment(*name, arg);
    if (!s) {
      envFail("OTEL_TRACES_SAMPLER", "unknown sampler \"" + *name +
                                         "\" (expected always_on, always_off, traceidratio, parentbased_always_on, "
                                         "parentbased_always_off or parentbased_traceidratio)");
    }
    t.sampler = *s;
  }

  if (auto f = otlp.child("propagation"); in_file && f.present()) {
    t.propagation.clear();
    for (size_t i = 0, n = f.expectList(); i < n; ++i) {
      auto p = telemetry::parsePropagator(f.item(i).nonEmptyString());
      if (!p) f.item(i).fail("unknown propagation format (expected w3c, xray, b3 or b3multi)");
      if (std::find(t.propagation.begin(), t.propagation.end(), *p) == t.propagation.end()) t.propagation.push_back(*p);
    }
    if (t.propagation.empty()) f.fail("must name at least one format (w3c, xray, b3, b3multi)");
  } else if (auto v = env("OTEL_PROPAGATORS")) {
    t.propagation.clear();
    std::string_view rest = *v;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      auto item = trim(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      if (item.empty() || item == "baggage" || item == "none") continue;  // baggage is not a trace context
      auto p = telemetry::parsePropagator(item);
      if (!p) {
        envFail("OTEL_PROPAGATORS", "unknown propagator \"" + std::string(item) +
                                        "\" (expected tracecontext, b3, b3multi, xray, baggage or none)");
      }
      if (std::find(t.propagation.begin(), t.propagation.end(), *p) == t.propagation.end()) t.propagation.push_back(*p);
    }
    if (t.propagation.empty()) envFail("OTEL_PROPAGATORS", "names no trace-context format hawser propagates");
  }

  // Batching: each key from the file, else its OTEL_BSP_* variable.
  auto batch = otlp.child("batch");
  const bool batch_in_file = in_file && batch.present();
  if (batch_in_file) batch.expectMap({"max_spans", "max_bytes", "delay"});
  if (auto v = batch.child("max_spans"); batch_in_file && v.present()) {
    t.max_batch_spans = static_cast<uint32_t>(v.unsignedInt(1, 65536));
  } else if (auto e = env("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")) {
    t.max_batch_spans = static_cast<uint32_t>(envNumber("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", *e, 1, 65536));
  }
  if (auto v = batch.child("max_bytes"); batch_in_file && v.present())
    t.max_batch_bytes = v.unsignedInt(1024, 64ull << 20);
  if (auto v = batch.child("delay"); batch_in_file && v.present()) {
    t.batch_delay = v.duration();
    if (t.batch_delay.count() == 0) v.fail("must be greater than 0");
  } else if (auto e = env("OTEL_BSP_SCHEDULE_DELAY")) {
    t.batch_delay = Duration(envNumber("OTEL_BSP_SCHEDULE_DELAY", *e, 1, 3'600'000));
  }
  if (auto f = otlp.child("max_queue_spans"); in_file && f.present()) {
    t.max_queue_spans = static_cast<uint32_t>(f.unsignedInt(1, 1u << 20));
  } else if (auto v = env("OTEL_BSP_MAX_QUEUE_SIZE")) {
    t.max_queue_spans = static_cast<uint32_t>(envNumber("OTEL_BSP_MAX_QUEUE_SIZE", *v, 1, 1u << 20));
  }
  return t;
}

std::function<std::optional<std::string>(const char*)> processEnvironment() {
  return [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (!v || !*v) return std::nullopt;
    return std::string(v);
  };
}

}  // namespace hawser::config
