#include "dataplane/config/config_json.h"

#include <boost/json.hpp>

namespace hawser::config {
namespace {
boost::json::object timeouts(const Timeouts& t) {
  return {
      {"connect", formatDuration(t.connect)}, {"request", formatDuration(t.request)}, {"idle", formatDuration(t.idle)}};
}
boost::json::object retry(const Retry& r) {
  return {{"attempts", r.attempts},
          {"per_try_timeout", formatDuration(r.per_try_timeout)},
          {"on", boost::json::value_from(r.on)},
          {"backoff", {{"base", formatDuration(r.backoff_base)}, {"max", formatDuration(r.backoff_max)}}},
          {"budget", {{"percent", r.budget_percent}, {"min_per_second", r.budget_min_per_second}}},
          {"max_buffered_body", r.max_buffered_body},
          {"allow_non_idempotent", r.allow_non_idempotent}};
}
boost::json::object attributes(const AttributeList& list) {
  boost::json::object o;
  for (const auto& [k, v] : list) o[k] = v;
  return o;
}
boost::json::value rateLimit(const std::optional<RateLimit>& r) {
  if (!r) return nullptr;
  return {{"rps", r->rps}, {"burst", r->burst}, {"per_peer", r->per_peer}};
}
boost::json::array routes(const std::vector<Route>& list) {
  boost::json::array out;
  for (const auto& r : list) {
    boost::json::array split;
    for (const auto& s : r.split) {
      split.push_back({{"subset", attributes(s.subset)}, {"weight", s.weight}, {"name", s.name}});
    }
    boost::json::object o{{"match", {{"prefix", r.prefix}, {"headers", attributes(r.headers)}}},
                          {"split", std::move(split)}};
    if (r.retry) o["retry"] = retry(*r.retry);
    if (r.timeouts) o["timeouts"] = timeouts(*r.timeouts);
    out.push_back(std::move(o));
  }
  return out;
}
}  // namespace

boost::json::value toJson(const Config& c) {
  boost::json::object root;
  root["source"] = c.source;
  root["node"] = {
      {"service", c.node.service}, {"namespace", c.node.ns}, {"identity", c.node.identity}, {"zone", c.node.zone}};
  if (c.node.register_instance) {
    auto& node = root["node"].as_object();
    boost::json::object attrs;
    for (const auto& [k, v] : c.node.attributes) attrs[k] = v;
    node["register"] = true;
    node["instance_id"] = c.node.instance_id;
    node["attributes"] = std::move(attrs);
    node["cloudmap"] = {{"namespace", c.node.cloudmap_namespace}, {"service", c.node.cloudmap_service}};
    node["app_health"] = {{"path", c.node.app_health.path},
                          {"interval", formatDuration(c.node.app_health.interval)},
                          {"timeout", formatDuration(c.node.app_health.timeout)}};
    if (c.node.advertise_address) node["advertise_address"] = c.node.advertise_address->str();
    node["deregister_grace"] = formatDuration(c.node.deregister_grace);
  }
  root["admin"] = {{"address", c.admin.str()}, {"allowed_hosts", boost::json::value_from(c.admin_allowed_hosts)}};
  root["workers"] = c.workers;
  root["drain_timeout"] = formatDuration(c.drain_timeout);
  root["limits"] = {{"max_header_bytes", c.limits.max_header_bytes},
                    {"max_headers", c.limits.max_headers},
                    {"max_request_body_bytes", c.limits.max_request_body_bytes},
                    {"header_timeout", formatDuration(c.limits.header_timeout)}};
  if (c.tls) {
    // Paths only: key material is never read into the dump.
    root["tls"] = {{"cert", c.tls->cert},
                   {"key", c.tls->key},
                   {"ca", c.tls->ca},
                   {"crl", c.tls->crl},
                   {"crl_check", c.tls->crl_check},
                   {"min_version", c.tls->min_version},
                   {"reload", c.tls->reload}};
  }
  if (c.cloudmap) {
    root["discovery"] = {{"cloudmap",
                          {{"endpoint", c.cloudmap->endpoint},
                           {"region", c.cloudmap->region},
                           {"poll_interval", formatDuration(c.cloudmap->poll_interval)},
                           {"health_refresh", formatDuration(c.cloudmap->health_refresh)},
                           {"health_status", c.cloudmap->health_status}}}};
  }
  {
    boost::json::object dns{{"servers", boost::json::value_from(c.dns.servers)},
                            {"min_ttl", formatDuration(c.dns.min_ttl)},
                            {"refresh", formatDuration(c.dns.refresh)},
                            {"negative_ttl", formatDuration(c.dns.negative_ttl)},
                            {"timeout", formatDuration(c.dns.timeout)}};
    if (!root.contains("discovery")) root["discovery"] = boost::json::object{};
    root["discovery"].as_object()["dns"] = std::move(dns);
  }
  boost::json::array inbound;
  for (const auto& in : c.inbound) {
    inbound.push_back(boost::json::object{{"name", in.name},
                                          {"rate_limit", rateLimit(in.rate_limit)},
                                          {"listen", in.listen.str()},
                                          {"app", in.app.str()},
                                          {"protocol", name(in.protocol)},
                                          {"tls", {{"mode", name(in.tls_mode)}}},
                                          {"authorization", {{"allow", boost::json::value_from(in.allow)}}},
                                          {"timeouts", timeouts(in.timeouts)},
                                          {"transparent", in.transparent}});
  }
  root["inbound"] = std::move(inbound);
  boost::json::array services;
  for (const auto& s : c.outbound.services) {
    boost::json::object o{{"name", s.name},
                          {"protocol", name(s.protocol)},
                          {"timeouts", timeouts(s.timeouts)},
                          {"load_balancer", name(s.load_balancer)},
                          {"tls", {{"mode", name(s.tls_mode)}, {"sans", boost::json::value_from(s.sans)}}}};
    if (s.alias) o["alias"] = s.alias->str();
    if (s.retry) o["retry"] = retry(*s.retry);
    o["rate_limit"] = rateLimit(s.rate_limit);
    o["routes"] = routes(s.routes);
    o["zone_aware"] = s.zone_aware;
    o["zone_spill_percent"] = s.zone_spill_percent;
    o["max_requests_per_connection"] = s.max_requests_per_connection;
    o["panic_threshold_percent"] = s.panic_threshold_percent;
    if (!s.virtual_ips.empty()) {
      boost::json::array vips;
      for (const auto& a : s.virtual_ips) vips.emplace_back(a.port ? a.str() : a.host);
      o["virtual_ips"] = std::move(vips);
    }
    if (!s.destination_ports.empty()) o["destination_ports"] = boost::json::value_from(s.destination_ports);
    if (s.health_check) {
      const auto& h = *s.health_check;
      o["health_check"] = {{"path", h.path},
                           {"interval", formatDuration(h.interval)},
                           {"timeout", formatDuration(h.timeout)},
                           {"healthy", h.healthy},
                           {"unhealthy", h.unhealthy}};
    }
    const auto& cb = s.circuit_breaker;
    o["circuit_breaker"] = {{"max_connections", cb.max_connections},
                            {"max_pending", cb.max_pending},
                            {"max_requests", cb.max_requests},
                            {"max_retries", cb.max_retries}};
    if (s.outlier_detection) {
      const auto& od = *s.outlier_detection;
      o["outlier_detection"] = {{"consecutive_5xx", od.consecutive_5xx},
                                {"consecutive_gateway_errors", od.consecutive_gateway_errors},
                                {"interval", formatDuration(od.interval)},
                                {"base_ejection", formatDuration(od.base_ejection)},
                                {"max_ejection", formatDuration(od.max_ejection)},
                                {"max_ejection_percent", od.max_ejection_percent}};
    }
    if (s.discovery.kind == Discovery::Kind::static_list) {
      boost::json::array eps;
      for (size_t i = 0; i < s.discovery.endpoints.size(); ++i) {
        const auto& attrs = s.discovery.static_attributes[i];
        if (attrs.empty())
          eps.push_back(boost::json::string(s.discovery.endpoints[i].str()));
        else
          eps.push_back({{"address", s.discovery.endpoints[i].str()}, {"attributes", attributes(attrs)}});
      }
      o["discovery"] = {{"static", eps}};
    } else if (s.discovery.kind == Discovery::Kind::file) {
      o["discovery"] = {{"file", s.discovery.file}};
    } else if (s.discovery.kind == Discovery::Kind::dns) {
      if (s.discovery.dns_srv)
        o["discovery"] = {{"dns", {{"srv", s.discovery.dns_name}}}};
      else
        o["discovery"] = {{"dns", {{"a", s.discovery.dns_name}, {"port", s.discovery.dns_port}}}};
    } else {
      boost::json::object q;
      for (const auto& [k, v] : s.discovery.cloudmap_query) q[k] = v;
      o["discovery"] = {{"cloudmap",
                         {{"namespace", s.discovery.cloudmap_namespace},
                          {"service", s.discovery.cloudmap_service},
                          {"owner_account", s.discovery.cloudmap_owner_account},
                          {"max_results", s.discovery.cloudmap_max_results},
                          {"query", std::move(q)}}}};
    }
    services.push_back(std::move(o));
  }
  boost::json::object outbound{{"passthrough", c.outbound.passthrough}, {"services", std::move(services)}};
  if (c.outbound.http_proxy) outbound["http_proxy"] = c.outbound.http_proxy->str();
  if (const auto& t = c.outbound.transparent) {
    outbound["transparent"] = {
        {"listen", t->listen.str()},
        {"egress_filter", name(t->egress_filter)},
        {"protocol_detection_timeout", formatDuration(t->protocol_detection_timeout)},
        {"timeouts", {{"connect", formatDuration(t->timeouts.connect)}, {"idle", formatDuration(t->timeouts.idle)}}}};
  }
  root["outbound"] = std::move(outbound);
  root["telemetry"] = {{"metrics", {{"path", c.metrics_path}, {"enabled", c.metrics_enabled}}},
                       {"access_log", {{"path", c.access_log.path}}}};
  if (const auto& t = c.tracing) {
    // Header values are a collector's credentials: names only.
    boost::json::array header_names;
    for (const auto& h : t->headers) header_names.push_back(boost::json::value(h.first));
    boost::json::array propagation;
    for (auto p : t->propagation) propagation.push_back(boost::json::value(telemetry::name(p)));
    const char* root_sampler = t->sampler.root == telemetry::Sampler::Root::always_on    ? "always_on"
                               : t->sampler.root == telemetry::Sampler::Root::always_off ? "always_off"
                                                                                         : "ratio";
    root["telemetry"].as_object()["tracing"] = {
        {"otlp",
         {{"endpoint", t->endpoint},
          {"protocol", t->json ? "http/json" : "http/protobuf"},
          {"compression", t->gzip ? "gzip" : "none"},
          {"timeout", formatDuration(t->timeout)},
          {"header_names", std::move(header_names)},
          {"sampler", {{"root", root_sampler}, {"ratio", t->sampler.ratio}, {"parent_based", t->sampler.parent_based}}},
          {"propagation", std::move(propagation)},
          {"batch",
           {{"max_spans", t->max_batch_spans},
            {"max_bytes", t->max_batch_bytes},
            {"delay", formatDuration(t->batch_delay)}}},
          {"max_queue_spans", t->max_queue_spans}}}};
  }
  if (const auto& cap = c.capture) {
    auto strings = [](const std::vector<std::string>& v) {
      boost::json::array a;
      for (const auto& s : v) a.push_back(boost::json::value(s));
      return a;
    };
    root["capture"] = {
        {"enabled", true},
        {"forwarder", cap->forwarder.str()},
        {"tls", {{"mode", cap->mutual_tls ? "mutual" : "disabled"}, {"sans", strings(cap->sans)}}},
        {"max_body_bytes", cap->max_body_bytes},
        {"queue_bytes", cap->queue_bytes},
        {"redact_headers", strings(cap->redact_headers)},
        {"sample_ratio", cap->sample_ratio},
        {"services", {{"include", strings(cap->include_services)}, {"exclude", strings(cap->exclude_services)}}},
        {"batch",
         {{"max_records", cap->max_batch_records},
          {"max_bytes", cap->max_batch_bytes},
          {"delay", formatDuration(cap->batch_delay)}}},
        {"timeout", formatDuration(cap->timeout)}};
  }
  return root;
}

}  // namespace hawser::config
