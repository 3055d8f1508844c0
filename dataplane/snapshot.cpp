#include "dataplane/snapshot.h"

#include "dataplane/transparent/transparent_routes.h"
#include "discovery/file_source.h"
#include "telemetry/metrics.h"

namespace hawser {
namespace {

policy::RetryPolicy retryPolicy(const std::optional<config::Retry>& r) {
  policy::RetryPolicy p;
  if (!r) {
    // Without a retry block only a connect failure (nothing sent) is tried
    // again, once, on another endpoint.
    p.attempts = 2;
    p.retry_on = policy::RetryConditions(policy::RetryConditions::connect_failure);
    return p;
  }
  p.attempts = r->attempts;
  p.per_try_timeout = r->per_try_timeout;
  policy::RetryConditions conditions;
  for (const auto& text : r->on) conditions.add(text);  // validated at load
  p.retry_on = conditions;
  p.backoff = {r->backoff_base, r->backoff_max};
  p.budget = {r->budget_percent, r->budget_min_per_second};
  p.max_buffered_body = r->max_buffered_body;
  p.allow_non_idempotent = r->allow_non_idempotent;
  return p;
}

bool sameCluster(const config::Service& a, const config::Service& b) {
  return a.protocol == b.protocol && a.load_balancer == b.load_balancer && a.tls_mode == b.tls_mode &&
         a.sans == b.sans && a.retry == b.retry && a.circuit_breaker == b.circuit_breaker &&
         a.max_requests_per_connection == b.max_requests_per_connection && a.outlier_detection == b.outlier_detection &&
         a.timeouts.connect == b.timeouts.connect && a.timeouts.request == b.timeouts.request &&
         a.timeouts.idle == b.timeouts.idle && a.discovery.kind == b.discovery.kind &&
         a.discovery.endpoints == b.discovery.endpoints && a.discovery.file == b.discovery.file &&
         a.discovery.cloudmap_namespace == b.discovery.cloudmap_namespace &&
         a.discovery.cloudmap_service == b.discovery.cloudmap_service &&
         a.discovery.cloudmap_query == b.discovery.cloudmap_query &&
         a.discovery.cloudmap_owner_account == b.discovery.cloudmap_owner_account &&
         a.discovery.cloudmap_optional == b.discovery.cloudmap_optional &&
         a.discovery.cloudmap_max_results == b.discovery.cloudmap_max_results &&
         a.discovery.dns_name == b.discovery.dns_name && a.discovery.dns_srv == b.discovery.dns_srv &&
         a.discovery.dns_port == b.discovery.dns_port &&
         a.discovery.static_attributes == b.discovery.static_attributes && a.health_check == b.health_check &&
         a.rate_limit == b.rate_limit && a.routes == b.routes && a.zone_aware == b.zone_aware &&
         a.zone_spill_percent == b.zone_spill_percent && a.panic_threshold_percent == b.panic_threshold_percent;
}

std::vector<ClusterRoute> compileRoutes(const std::vector<config::Route>& routes) {
  std::vector<ClusterRoute> out;
  for (const auto& r : routes) {
    ClusterRoute c;
    c.prefix = r.prefix;
    c.headers = r.headers;
    if (!r.split.empty()) {
      std::vector<policy::Subset> subsets;
      for (const auto& s : r.split) {
        subsets.push_back({policy::Attributes(s.subset.begin(), s.subset.end()), s.weight, s.name});
      }
      c.split.emplace(std::move(subsets));
    }
    if (r.retry) c.retry = retryPolicy(r.retry);
    c.timeouts = r.timeouts;
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<discovery::EndpointSpec> staticSpecs(const config::Discovery& d) {
  std::vector<discovery::EndpointSpec> out;
  for (size_t i = 0; i < d.endpoints.size(); ++i) {
    const auto& attrs = d.static_attributes[i];
    out.push_back({d.endpoints[i].host, d.endpoints[i].port, {attrs.begin(), attrs.end()}});
  }
  return out;
}

const config::Service* findService(const config::Config& c, const std::string& name) {
  for (const auto& s : c.outbound.services) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::shared_ptr<Cluster> makeCluster(const std::string& name, const config::Timeouts& t, config::LoadBalancer lb,
                                     config::Protocol protocol, unsigned workers, telemetry::Metrics& metrics,
                                     std::string_view direction, std::string_view service_label,
                                     policy::HostSelectionPolicy hosts = {}) {
  auto c = std::make_shared<Cluster>(name, t, lb, protocol, workers, std::move(hosts));
  for (unsigned w = 0; w < workers; ++w) {
    c->stats.push_back(&metrics.worker(w).requestStats(direction, service_label, "unknown"));
    c->policy_stats.push_back(&metrics.worker(w).policyStats(service_label));
  }
  c->policy = std::make_shared<ClusterPolicy>(retryPolicy(std::nullopt), policy::CircuitBreakerThresholds{});
  return c;
}

void installEverywhere(Cluster& c, unsigned workers, std::shared_ptr<const discovery::EndpointSet> set) {
  c.setLatest(set);
  for (unsigned w = 0; w < workers; ++w) c.install(w, set);
}

}  // namespace

std::string ListenerSpec::key() const {
  return std::string(hawser::name(kind)) + "|" + name + "|" + address.str() + "|" + config::name(protocol);
}

const char* name(ListenerSpec::Kind k) {
  switch (k) {
    case ListenerSpec::Kind::outbound: return "outbound";
    case ListenerSpec::Kind::http_proxy: return "http_proxy";
    case ListenerSpec::Kind::transparent_inbound: return "transparent_inbound";
    case ListenerSpec::Kind::transparent_outbound: return "transparent_outbound";
    default: return "inbound";
  }
}

const ListenerSpec* Snapshot::findListener(const std::string& key) const {
  for (const auto& l : listeners) {
    if (l.key() == key) return &l;
  }
  for (const auto& l : routed) {
    if (l.key() == key) return &l;
  }
  return nullptr;
}

std::shared_ptr<Cluster> Snapshot::service(std::string_view name) const {
  auto it = services.find(std::string(name));
  return it == services.end() ? nullptr : it->second;
}

std::shared_ptr<const Snapshot> compileSnapshot(std::shared_ptr<const config::Config> cfg, const Snapshot* previous,
                                                telemetry::Metrics& metrics) {
  auto snap = std::make_shared<Snapshot>();
  snap->config = cfg;
  const unsigned workers = cfg->workers;
  const std::string local_service = cfg->node.service.empty() ? "local" : cfg->node.service;
  auto routes = std::make_shared<transparent::TransparentRoutes>();
  std::optional<config::Address> ingress;  // the transparent ingress listener's address, when one is configured

  for (const auto& in : cfg->inbound) {
    auto cluster = makeCluster("inbound|" + in.name, in.timeouts, config::LoadBalancer::round_robin, in.protocol,
                               workers, metrics, "inbound", local_service);
    installEverywhere(
        *cluster, workers,
        discovery::mergeEndpoints(nullptr, std::vector<discovery::EndpointSpec>{{in.app.host, in.app.port, {}}}));
    snap->clusters.push_back(cluster);
    std::shared_ptr<RateLimiter> limiter;
    if (in.rate_limit) {
      // A reload with the same limit keeps the bucket (and what it has spent).
      const ListenerSpec* old = nullptr;
      if (previous) {
        for (const auto& l : previous->listeners) {
          if (l.kind == ListenerSpec::Kind::inbound && l.name == in.name) old = &l;
        }
      }
      if (old && old->rate_limiter && old->rate_limiter->limit() == *in.rate_limit) {
        limiter = old->rate_limiter;
      } else {
        limiter = std::make_shared<RateLimiter>(*in.rate_limit);
      }
    }
    ListenerSpec spec{in.name,     ListenerSpec::Kind::inbound,
                      in.listen,   in.protocol,
                      cluster,     in.timeouts,
                      in.tls_mode, in.allow,
                      limiter,     nullptr};
    if (in.transparent) {
      ingress = in.listen;
      routes->ingress.emplace_back(in.app.port, spec.key());
      snap->routed.push_back(std::move(spec));
    } else {
      snap->listeners.push_back(std::move(spec));
    }
  }

  for (const auto& svc : cfg->outbound.services) {
    std::shared_ptr<Cluster> cluster;
    if (previous) {
      auto old = previous->service(svc.name);
      const auto* old_cfg = findService(*previous->config, svc.name);
      const std::string zone = svc.zone_aware ? cfg->node.zone : std::string();
      if (old && old_cfg && sameCluster(*old_cfg, svc) && old->hostSelection().local_zone == zone) cluster = old;
    }
    if (!cluster) {
      auto old = previous ? previous->service(svc.name) : nullptr;
      policy::HostSelectionPolicy hosts;
      hosts.panic_threshold_percent = svc.panic_threshold_percent;
      hosts.zone_spill_percent = svc.zone_spill_percent;
      if (svc.zone_aware) hosts.local_zone = cfg->node.zone;
      cluster = makeCluster(svc.name, svc.timeouts, svc.load_balancer, svc.protocol, workers, metrics, "outbound",
                            svc.name, std::move(hosts));
      cluster->setRoutes(compileRoutes(svc.routes));
      if (svc.rate_limit) cluster->rate_limiter = std::make_shared<RateLimiter>(*svc.rate_limit);
      if (svc.health_check) cluster->health_check = *svc.health_check;
      cluster->mutual_tls = svc.tls_mode == config::OutboundTlsMode::mutual;
      cluster->max_requests_per_connection = svc.max_requests_per_connection;
      const auto& cb = svc.circuit_breaker;
      cluster->policy = std::make_shared<ClusterPolicy>(
          retryPolicy(svc.retry),
          policy::CircuitBreakerThresholds{cb.max_connections, cb.max_pending, cb.max_requests, cb.max_retries});
      cluster->expected_sans = svc.sans;
      if (const auto& od = svc.outlier_detection) {
        cluster->outlier = std::make_unique<OutlierTracker>(
            policy::OutlierDetectionPolicy{od->consecutive_5xx, od->consecutive_gateway_errors, od->interval,
                                           od->base_ejection, od->max_ejection, od->max_ejection_percent});
      }
      cluster->tls_pool_tag = "|tls";
      for (const auto& san : svc.sans) cluster->tls_pool_tag += "|" + san;
      auto old_set = old ? old->latest() : nullptr;
      if (svc.discovery.kind == config::Discovery::Kind::static_list) {
        installEverywhere(*cluster, workers, discovery::mergeEndpoints(old_set.get(), staticSpecs(svc.discovery)));
      } else if (svc.discovery.kind == config::Discovery::Kind::cloudmap ||
                 svc.discovery.kind == config::Discovery::Kind::dns) {
        // Filled by the Cloud Map source; a rebuilt cluster starts from the last set.
        if (old_set) installEverywhere(*cluster, workers, old_set);
      } else {
        discovery::FileSource source(svc.discovery.file);
        discovery::FileParseResult r;
        source.poll(r);
        if (!r.error.empty()) {
          throw config::ConfigError(cfg->source + ": outbound.services[" + svc.name + "].discovery.file: " + r.error);
        }
        installEverywhere(*cluster, workers, discovery::mergeEndpoints(old_set.get(), r.endpoints));
      }
    }
    if (svc.discovery.kind == config::Discovery::Kind::file) snap->file_sources[svc.name] = svc.discovery.file;
    snap->services[svc.name] = cluster;
    snap->clusters.push_back(cluster);
    if (svc.alias) {
      snap->listeners.push_back({svc.name,
                                 ListenerSpec::Kind::outbound,
                                 *svc.alias,
                                 svc.protocol,
                                 cluster,
                                 svc.timeouts,
                                 config::InboundTlsMode::disabled,
                                 {},
                                 nullptr,
                                 nullptr});
    }
    if (const auto& t = cfg->outbound.transparent) {
      ListenerSpec spec{svc.name,     ListenerSpec::Kind::outbound,     t->listen, svc.protocol, cluster,
                        svc.timeouts, config::InboundTlsMode::disabled, {},        nullptr,      nullptr};
      routes->table.add(svc, routes->service_keys.size());
      routes->service_keys.push_back(spec.key());
      routes->service_clusters.push_back(cluster);
      snap->routed.push_back(std::move(spec));
    }
  }

  if (cfg->outbound.http_proxy) {
    snap->passthrough = makeCluster("passthrough", config::Timeouts{}, config::LoadBalancer::round_robin,
                                    config::Protocol::http, workers, metrics, "outbound", "passthrough");
    snap->listeners.push_back({"http_proxy",
                               ListenerSpec::Kind::http_proxy,
                               *cfg->outbound.http_proxy,
                               config::Protocol::http,
                               nullptr,
                               config::Timeouts{},
                               config::InboundTlsMode::disabled,
                               {},
                               nullptr,
                               nullptr});
  }
  // Both transparent listeners share one table: each reads only its half.
  auto transparentListener = [&](const char* name, ListenerSpec::Kind kind, const config::Address& at) {
    if (routes->refusals.empty()) {
      routes->refusals.resize(workers);
      for (unsigned w = 0; w < workers; ++w) {
        for (size_t r = 0; r < transparent::kRefusalCount; ++r) {
          routes->refusals[w][r] =
              &metrics.worker(w).rejected(transparent::reason(static_cast<transparent::Refusal>(r)));
        }
      }
    }
    if (at.port) routes->own_ports.push_back(at.port);
    snap->listeners.push_back({name,
                               kind,
                               at,
                               config::Protocol::tcp,
                               nullptr,
                               config::Timeouts{},
                               config::InboundTlsMode::disabled,
                               {},
                               nullptr,
                               routes});
  };
  if (const auto& t = cfg->outbound.transparent) {
    routes->filter = t->egress_filter;
    routes->protocol_detection_timeout = t->protocol_detection_timeout;
    routes->passthrough_timeouts = t->timeouts;
    transparentListener("transparent_outbound", ListenerSpec::Kind::transparent_outbound, t->listen);
  }
  if (ingress) transparentListener("transparent_inbound", ListenerSpec::Kind::transparent_inbound, *ingress);
  return snap;
}

}  // namespace hawser
