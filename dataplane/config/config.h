// The parsed, validated configuration: plain data, no sockets. Compiled into a
// runtime Snapshot by dataplane/snapshot.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "telemetry/trace_context.h"

namespace hawser::config {

using Duration = std::chrono::milliseconds;

struct Address {
  std::string host;
  uint16_t port = 0;
  std::string str() const;
  bool operator==(const Address&) const = default;
};

enum class Protocol { http, tcp };
enum class LoadBalancer { round_robin, least_request, random };

struct Timeouts {
  Duration connect{5000};
  Duration request{15000};  // whole exchange; 0 disables
  Duration idle{60000};     // keep-alive and tunnel inactivity
  bool operator==(const Timeouts&) const = default;
};

// `node.app_health`: the local app's HTTP health check (self-registration).
struct AppHealth {
  std::string path = "/healthz";
  Duration interval{1000};
  Duration timeout{1000};
};

struct Node {
  std::string service;
  std::string ns;  // YAML key `namespace`
  std::string identity;
  // Self-registration in Cloud Map (`node.register` and friends).
  bool register_instance = false;                               // YAML key `register`
  std::string instance_id;                                      // empty: <hostname>-<first inbound listener port>
  std::vector<std::pair<std::string, std::string>> attributes;  // custom attributes (version, AVAILABILITY_ZONE)
  std::string cloudmap_namespace;                               // node.cloudmap.namespace
  std::string cloudmap_service;                                 // node.cloudmap.service
  AppHealth app_health;
  std::optional<Address> advertise_address;  // AWS_INSTANCE_IPV4:AWS_INSTANCE_PORT; port 0: the bound port
  Duration deregister_grace{0};              // keep serving this long after deregistering, before closing
  // This task's availability zone, for zone-aware load balancing (`node.zone`;
  // default: the AVAILABILITY_ZONE of node.attributes). Empty: no zone awareness.
  std::string zone;
};

struct Limits {
  uint64_t max_header_bytes = 64 * 1024;
  uint64_t max_headers = 100;
  uint64_t max_request_body_bytes = 0;  // 0: unlimited (bodies stream)
  Duration header_timeout{10000};
};

// Files of this task's certificate, key, trusted CAs and optional CRL.
struct Tls {
  std::string cert;
  std::string key;
  std::string ca;
  std::string crl;
  // Which certificates of a peer's chain are checked against `crl`: "chain"
  // (each one; a CRL is needed for every CA above the leaf) | "leaf".
  std::string crl_check = "chain";
  std::string min_version = "1.2";  // "1.2" | "1.3"
  bool reload = true;               // watch the files and swap without dropping connections
};

// Per-service retry policy (`retry`). Absent: connect failures are tried
// once more on another endpoint, nothing else is retried.
struct Retry {
  uint32_t attempts = 2;  // in total, the first included
  Duration per_try_timeout{0};
  std::vector<std::string> on{"connect-failure", "gateway-error"};
  Duration backoff_base{25};
  Duration backoff_max{250};
  double budget_percent = 20;
  double budget_min_per_second = 10;
  uint64_t max_buffered_body = 64 * 1024;
  bool allow_non_idempotent = false;
  bool operator==(const Retry&) const = default;
};

struct CircuitBreaker {
  uint32_t max_connections = 1024;
  uint32_t max_pending = 1024;
  uint32_t max_requests = 1024;
  uint32_t max_retries = 3;
  bool operator==(const CircuitBreaker&) const = default;
};

struct OutlierDetection {
  uint32_t consecutive_5xx = 5;
  uint32_t consecutive_gateway_errors = 5;
  Duration interval{10000};
  Duration base_ejection{30000};
  Duration max_ejection{300000};
  uint32_t max_ejection_percent = 10;
  bool operator==(const OutlierDetection&) const = default;
};

struct RateLimit {
  double rps = 0;
  uint32_t burst = 0;
  bool per_peer = false;  // inbound: one bucket per verified peer identity
  bool operator==(const RateLimit&) const = default;
};

// Active health checks (`health_check`): GET `path` on every endpoint over the
// same (m)TLS as traffic.
struct HealthCheck {
  std::string path = "/healthz";
  Duration interval{5000};
  Duration timeout{1000};
  uint32_t healthy = 2;    // consecutive passes to become healthy again
  uint32_t unhealthy = 3;  // consecutive failures to become unhealthy
  bool operator==(const HealthCheck&) const = default;
};

using AttributeList = std::vector<std::pair<std::string, std::string>>;

// One entry of a route's `split`: the endpoints whose attributes match
// `subset`, taking `weight` of the route's traffic.
struct Split {
  AttributeList subset;
  uint32_t weight = 0;
  std::string name;  // `name`; empty: derived from the selector (policy/route_split.h)
  bool operator==(const Split&) const = default;
};

struct Route {
  std::string prefix = "/";  // match.prefix
  AttributeList headers;     // match.headers: exact values; names lower-cased
  std::vector<Split> split;  // empty: every endpoint
  std::optional<Retry> retry;
  std::optional<Timeouts> timeouts;
  bool operator==(const Route&) const = default;
};

enum class InboundTlsMode { strict, permissive, disabled };
enum class OutboundTlsMode { mutual, disabled };

struct Inbound {
  std::string name;
  InboundTlsMode tls_mode = InboundTlsMode::strict;
  std::vector<std::string> allow;  // authorization.allow; empty: any verified peer
  std::optional<RateLimit> rate_limit;
  Address listen;
  Address app;
  Protocol protocol = Protocol::http;
  Timeouts timeouts;
  // Served on the transparent ingress listener (`listen`, shared by every such
  // entry) for connections iptables redirected there whose original
  // destination port is `app.port` (docs/transparent.md).
  bool transparent = false;
};

// Shared settings of every Cloud Map source (top-level `discovery.cloudmap`).
struct CloudMap {
  std::string endpoint;  // empty: https://data-servicediscovery.<region>.amazonaws.com
  std::string region = "us-east-1";
  Duration poll_interval{5000};
  Duration health_refresh{30000};
  std::string health_status = "HEALTHY";  // HEALTHY | UNHEALTHY | ALL | HEALTHY_OR_ELSE_ALL
};

// Shared settings of every DNS source (top-level `discovery.dns`).
struct Dns {
  std::vector<std::string> servers;  // "ip[:port]"; empty: /etc/resolv.conf
  Duration min_ttl{1000};            // TTL clamps: re-resolve no sooner / no later
  Duration refresh{300000};          // the upper clamp (max TTL)
  Duration negative_ttl{5000};       // retry after NXDOMAIN, SERVFAIL, timeouts
  Duration timeout{2000};
};

struct Discovery {
  enum class Kind { static_list, file, cloudmap, dns };
  Kind kind = Kind::static_list;
  std::vector<Address> endpoints;                // static
  std::vector<AttributeList> static_attributes;  // static: per endpoint (same order)
  std::string file;                              // file
  std::string cloudmap_namespace;                // cloudmap
  std::string cloudmap_service;
  std::vector<std::pair<std::string, std::string>> cloudmap_query;
  std::string cloudmap_owner_account;                                  // shared namespaces: the owning account id
  std::vector<std::pair<std::string, std::string>> cloudmap_optional;  // OptionalParameters
  uint32_t cloudmap_max_results = 0;                                   // 0: the API default
  std::string dns_name;  // dns: an SRV name, or an A/AAAA name with dns_port
  bool dns_srv = true;
  uint16_t dns_port = 0;
};

struct Service {
  std::string name;
  OutboundTlsMode tls_mode = OutboundTlsMode::mutual;
  std::vector<std::string> sans;  // identities accepted from the peer; default spiffe://<namespace>/<name>
  std::string ns;                 // the peer's namespace for the default identity (default: node.namespace)
  std::optional<Address> alias;
  Protocol protocol = Protocol::http;
  Discovery discovery;
  Timeouts timeouts;
  LoadBalancer load_balancer = LoadBalancer::round_robin;
  std::optional<Retry> retry;
  CircuitBreaker circuit_breaker;
  std::optional<OutlierDetection> outlier_detection;
  std::optional<HealthCheck> health_check;
  std::optional<RateLimit> rate_limit;  // outbound: requests to this service
  std::vector<Route> routes;
  bool zone_aware = true;                    // prefer node.zone's endpoints when node.zone is known
  uint32_t zone_spill_percent = 70;          // below this share of usable local endpoints, use every zone
  uint32_t panic_threshold_percent = 50;     // below this share of usable endpoints, use all of them
  uint32_t max_requests_per_connection = 0;  // an upstream connection closes after this many; 0: no limit
  // Transparent egress: connections to these addresses (port 0: any port) or,
  // failing every address match, to any address on these ports go to this service.
  std::vector<Address> virtual_ips;
  std::vector<uint16_t> destination_ports;
};

// App Mesh's egressFilter: what the transparent egress listener does with a
// connection no service claims.
enum class EgressFilter { allow_all, drop_all };

// `outbound.transparent`: the egress listener for connections iptables
// redirected (ProxyEgressPort).
struct TransparentOutbound {
  Address listen{"127.0.0.1", 15001};
  EgressFilter egress_filter = EgressFilter::allow_all;
  // How long to wait for the client's first bytes to tell HTTP from other
  // protocols; a client that says nothing first (server-first protocols) is proxied as TCP.
  Duration protocol_detection_timeout{100};
  Timeouts timeouts;  // connect and idle of passthrough connections
};

struct Outbound {
  std::optional<Address> http_proxy;
  bool passthrough = true;  // http_proxy: unknown hosts go to their own address
  std::vector<Service> services;
  std::optional<TransparentOutbound> transparent;
};

struct AccessLog {
  std::string path = "stdout";  // stdout | off | a file
};

// `telemetry.tracing.otlp`, with the OTEL_* environment variables filling
// what the file leaves out (tracing_config.cpp).
struct Tracing {
  std::string endpoint;  // the URL spans are POSTed to (.../v1/traces)
  bool json = false;     // protocol http/json; else http/protobuf
  bool gzip = false;     // compression: gzip | none (the SDKs' default is none; gzip for a collector across a network)
  std::vector<std::pair<std::string, std::string>> headers;  // secrets: /config_dump shows the names only
  Duration timeout{10000};
  telemetry::Sampler sampler;  // sample_ratio (parent-based), or OTEL_TRACES_SAMPLER
  std::vector<telemetry::Propagator> propagation{telemetry::Propagator::w3c};
  uint32_t max_batch_spans = 512;
  uint64_t max_batch_bytes = 512 * 1024;
  Duration batch_delay{5000};
  uint32_t max_queue_spans = 2048;
};

// `capture`: the tee of every exchange into the forwarder (capture_config.cpp).
struct Capture {
  Address forwarder{"", 8888};
  bool mutual_tls = false;        // tls.mode: mutual (the default when the node has tls) | disabled
  std::vector<std::string> sans;  // the forwarder's identities (tls.sans; default spiffe://<namespace>/forwarder)
  uint64_t max_body_bytes = 64 * 1024;
  uint64_t queue_bytes = 16 * 1024 * 1024;
  std::vector<std::string> redact_headers{"authorization", "cookie", "set-cookie", "x-api-key",
                                          "proxy-authorization"};  // lower case
  double sample_ratio = 1.0;
  std::vector<std::string> include_services;  // empty: every service
  std::vector<std::string> exclude_services;
  uint32_t max_batch_records = 1000;
  uint64_t max_batch_bytes = 1024 * 1024;
  Duration batch_delay{1000};
  Duration timeout{10000};
};

struct Config {
  std::string source;  // file path or "HAWSER_CONFIG_YAML"
  Node node;
  Address admin{"127.0.0.1", 9901};
  std::vector<std::string> admin_allowed_hosts;  // extra Host names the admin server answers (lower case)
  unsigned workers = 0;                          // 0 resolved to the number of cores at load
  Duration drain_timeout{30000};
  Limits limits;
  std::optional<Tls> tls;
  std::optional<CloudMap> cloudmap;
  Dns dns;
  std::vector<Inbound> inbound;
  Outbound outbound;
  std::string metrics_path = "/metrics";
  bool metrics_enabled = true;  // false: no request is counted and the metrics path answers 404
  AccessLog access_log;
  std::optional<Capture> capture;  // off unless capture.enabled
  std::optional<Tracing> tracing;  // off when neither the file nor OTEL_EXPORTER_OTLP_*ENDPOINT names a collector
};

// Thrown only while loading: "<file>:<line>: <key.path>: <problem>".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

Config loadFile(const std::string& path);
Config loadText(const std::string& yaml, const std::string& source);
// --config FILE, else HAWSER_CONFIG (a file), else HAWSER_CONFIG_YAML (inline).
Config loadFromEnvironmentOr(const std::string& path);

std::string formatDuration(Duration d);
const char* name(Protocol p);
const char* name(LoadBalancer lb);
const char* name(InboundTlsMode m);
const char* name(OutboundTlsMode m);
const char* name(EgressFilter f);

}  // namespace hawser::config
