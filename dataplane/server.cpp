#include "dataplane/server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/json.hpp>

#include <unistd.h>

#include <csignal>
#include <fstream>
#include <unordered_set>

#include "dataplane/admin_server.h"
#include "dataplane/capture_pipeline.h"
#include "dataplane/config/config_json.h"
#include "dataplane/health_checker.h"
#include "dataplane/post_transport.h"
#include "discovery/cloudmap/cloudmap_source.h"
#include "discovery/cloudmap/credentials_provider.h"
#include "discovery/cloudmap/instance_registration.h"
#include "discovery/dns/dns_source.h"
#include "telemetry/log.h"
#include "telemetry/resource.h"

namespace hawser {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

namespace {
tcp::endpoint resolve(asio::io_context& ctx, const config::Address& a) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(a.host, ec);
  if (!ec) return {addr, a.port};
  tcp::resolver resolver(ctx);
  auto results = resolver.resolve(a.host, std::to_string(a.port), ec);
  if (ec || results.empty()) throw std::runtime_error("cannot resolve " + a.str() + ": " + ec.message());
  return *results.begin();
}

std::string str(const tcp::endpoint& ep) {
  auto a = ep.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}
}  // namespace

Server::Server(config::Config cfg, ServerOptions options)
    : options_(std::move(options)),
      metrics_(cfg.workers),
      access_log_(cfg.access_log.path, &metrics_.main().access_log_dropped) {
  auto otlp = postTransport(discovery::cloudmap::makeHttpTransport(main_.get_executor()));
  auto& spans = metrics_.main().trace_spans;
  tracer_ = std::make_unique<telemetry::TraceExporter>(
      main_.get_executor(), std::move(otlp),
      telemetry::ExporterCounters{&spans.Add({{"outcome", "exported"}}), &spans.Add({{"outcome", "dropped"}}),
                                  &spans.Add({{"outcome", "failed"}})});
  capture_ = std::make_unique<CapturePipeline>(main_.get_executor(), metrics_.main(), cfg.workers);
  for (unsigned i = 0; i < cfg.workers; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, metrics_.worker(i), access_log_, *tracer_, capture_->shipper()));
  }
  snapshot_ = compileSnapshot(std::make_shared<const config::Config>(std::move(cfg)), nullptr, metrics_);
  admin_ = std::make_unique<AdminServer>(main_, *this, metrics_.main().admin_refused, metrics_.main().serving_errors);
  std::string error;
  if (!installTls(snapshot_->config->tls, error))
    throw config::ConfigError(snapshot_->config->source + ": tls: " + error);
}

Server::~Server() {
  for (const auto& h : health_checkers_) h->stop();
  if (app_health_) app_health_->stop();
  if (registration_) registration_->stop();
  for (auto& [name, watch] : cloudmap_) watch.source->stop();
  for (auto& [name, watch] : dns_) watch.source->stop();
  for (auto& w : workers_) w->stop();
}

void Server::syncDnsSources() {
  const auto& cfg = *snapshot_->config;
  std::map<std::string, std::string> wanted;
  auto keyOf = [&](const config::Service& svc) {
    std::string key =
        svc.discovery.dns_name + (svc.discovery.dns_srv ? "|srv" : "|a|" + std::to_string(svc.discovery.dns_port));
    for (const auto& s : cfg.dns.servers) key += "|" + s;
    key += "|" + std::to_string(cfg.dns.min_ttl.count()) + "|" + std::to_string(cfg.dns.refresh.count()) + "|" +
           std::to_string(cfg.dns.negative_ttl.count()) + "|" + std::to_string(cfg.dns.timeout.count());
    return key;
  };
  for (const auto& svc : cfg.outbound.services) {
    if (svc.discovery.kind == config::Discovery::Kind::dns) wanted[svc.name] = keyOf(svc);
  }
  for (auto it = dns_.begin(); it != dns_.end();) {
    auto w = wanted.find(it->first);
    if (w == wanted.end() || w->second != it->second.key) {
      it->second.source->stop();
      it = dns_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& svc : cfg.outbound.services) {
    if (svc.discovery.kind != config::Discovery::Kind::dns || dns_.count(svc.name)) continue;
    discovery::dns::DnsSourceConfig dc;
    dc.servers = cfg.dns.servers;
    dc.name = svc.discovery.dns_name;
    dc.kind = svc.discovery.dns_srv ? discovery::dns::DnsRecordKind::srv : discovery::dns::DnsRecordKind::address;
    dc.port = svc.discovery.dns_port;
    dc.min_ttl = cfg.dns.min_ttl;
    dc.max_ttl = cfg.dns.refresh;
    dc.negative_ttl = cfg.dns.negative_ttl;
    dc.timeout = cfg.dns.timeout;
    const std::string name = svc.name;
    std::unique_ptr<discovery::dns::DnsSource> source;
    try {
      source = std::make_unique<discovery::dns::DnsSource>(
          main_.get_executor(), dc,
          [this, name](const std::vector<discovery::EndpointSpec>& specs) { applyDiscoveredSet(name, specs, "dns"); },
          [this, name](const discovery::dns::DnsSourceError& e) {
            metrics_.main().discovery_errors.Increment();
            log::warn("DNS refresh failed; keeping the last endpoints",
                      {{"service", name}, {"kind", e.kind}, {"error", e.message}});
          });
    } catch (const std::exception& e) {
      // Validation should have caught it; never leave publish() half done.
      metrics_.main().discovery_errors.Increment();
      log::error("cannot start DNS discovery", {{"service", name}, {"error", e.what()}});
      continue;
    }
    source->start();
    dns_[name] = DnsWatch{wanted[name], std::move(source)};
  }
}

bool Server::ready() const {
  if (state_ != State::live) return false;
  for (const auto& [name, watch] : cloudmap_) {
    if (!watch.source->stats().warmed.load()) return false;
  }
  for (const auto& [name, watch] : dns_) {
    if (!watch.source->stats().warmed.load()) return false;
  }
  return true;
}

void Server::syncCloudMapSources() {
  const auto& cfg = *snapshot_->config;
  std::map<std::string, std::string> wanted;  // service -> key
  for (const auto& svc : cfg.outbound.services) {
    if (svc.discovery.kind != config::Discovery::Kind::cloudmap) continue;
    const auto& g = *cfg.cloudmap;
    std::string key = g.endpoint + "|" + g.region + "|" + std::to_string(g.poll_interval.count()) + "|" +
                      std::to_string(g.health_refresh.count()) + "|" + g.health_status + "|" +
                      svc.discovery.cloudmap_namespace + "|" + svc.discovery.cloudmap_service;
    for (const auto& [k, v] : svc.discovery.cloudmap_query) key += "|" + k + "=" + v;
    key += "|owner=" + svc.discovery.cloudmap_owner_account;
    for (const auto& [k, v] : svc.discovery.cloudmap_optional) key += "|opt:" + k + "=" + v;
    key += "|max=" + std::to_string(svc.discovery.cloudmap_max_results);
    wanted[svc.name] = key;
  }
  for (auto it = cloudmap_.begin(); it != cloudmap_.end();) {
    auto w = wanted.find(it->first);
    if (w == wanted.end() || w->second != it->second.key) {
      it->second.source->stop();
      it = cloudmap_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& svc : cfg.outbound.services) {
    if (svc.discovery.kind != config::Discovery::Kind::cloudmap || cloudmap_.count(svc.name)) continue;
    awsCredentials();
    const auto& g = *cfg.cloudmap;
    discovery::cloudmap::CloudMapSourceConfig sc;
    sc.endpoint = g.endpoint;
    sc.region = g.region;
    sc.namespace_name = svc.discovery.cloudmap_namespace;
    sc.service_name = svc.discovery.cloudmap_service;
    sc.health_status =
        discovery::aws::parseHealthStatusFilter(g.health_status).value_or(discovery::aws::HealthStatusFilter::healthy);
    for (const auto& [k, v] : svc.discovery.cloudmap_query) sc.query_parameters[k] = v;
    sc.owner_account = svc.discovery.cloudmap_owner_account;
    for (const auto& [k, v] : svc.discovery.cloudmap_optional) sc.optional_parameters[k] = v;
    if (svc.discovery.cloudmap_max_results) sc.max_results = static_cast<int>(svc.discovery.cloudmap_max_results);
    sc.poll_interval = g.poll_interval;
    sc.health_refresh = g.health_refresh;
    const std::string name = svc.name;
    std::unique_ptr<discovery::cloudmap::CloudMapSource> source;
    try {
      source = std::make_unique<discovery::cloudmap::CloudMapSource>(
          main_.get_executor(), sc, aws_credentials_,
          [this, name](const std::vector<discovery::aws::Endpoint>& endpoints) {
            std::vector<discovery::EndpointSpec> specs;
            for (const auto& e : endpoints) specs.push_back({e.host, e.port, e.attributes});
            applyDiscoveredSet(name, specs, "cloudmap");
          },
          [this, name](const discovery::cloudmap::CloudMapSourceError& e) {
            metrics_.main().discovery_errors.Increment();
            log::warn("Cloud Map refresh failed; keeping the last endpoints",
                      {{"service", name}, {"kind", e.kind}, {"error", e.message}});
          });
    } catch (const std::exception& e) {
      metrics_.main().discovery_errors.Increment();
      log::error("cannot start Cloud Map discovery", {{"service", name}, {"error", e.what()}});
      continue;
    }
    source->start();
    cloudmap_[name] = CloudMapWatch{wanted[name], std::move(source)};
  }
}

std::shared_ptr<discovery::cloudmap::CredentialsProvider> Server::awsCredentials() {
  if (!aws_credentials_made_) {
    aws_credentials_ = discovery::cloudmap::makeDefaultCredentialsProvider(
        main_.get_executor(), discovery::cloudmap::processEnvironment(), discovery::cloudmap::fileReader());
    aws_credentials_made_ = true;
    if (!aws_credentials_) log::warn("no AWS credentials found: Cloud Map requests are sent unsigned");
  }
  return aws_credentials_;
}

namespace {
std::string hostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0 || !buf[0]) return "hawser";
  return buf;
}

// An IPv4 address to advertise for a listener bound to 0.0.0.0 or a name:
// the host name's first non-loopback IPv4 address (the task ENI's in awsvpc).
std::string advertisedIpv4(asio::io_context& ctx, const std::string& listen_host) {
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(listen_host, ec);
  if (!ec && ip.is_v4() && !ip.is_unspecified()) return ip.to_string();
  std::string fallback;
  for (const auto& name : {hostName(), listen_host}) {
    if (name.empty() || name == "0.0.0.0" || name == "::") continue;
    tcp::resolver resolver(ctx);
    auto results = resolver.resolve(tcp::v4(), name, "", ec);
    if (ec) continue;
    for (const auto& r : results) {
      auto a = r.endpoint().address();
      if (!a.is_v4() || a.is_unspecified()) continue;
      if (!a.is_loopback()) return a.to_string();
      if (fallback.empty()) fallback = a.to_string();
    }
  }
  if (fallback.empty()) {
    throw std::runtime_error("node.register: cannot tell which IPv4 address to register for listen host \"" +
                             listen_host + "\"; set node.advertise_address");
  }
  return fallback;
}
}  // namespace

void Server::startRegistration() {
  const auto& cfg = *snapshot_->config;
  const auto& node = cfg.node;
  if (!node.register_instance || !cfg.cloudmap || cfg.inbound.empty()) return;
  const auto& in = cfg.inbound.front();
  // A transparent entry is reached at the task's address on the app port (iptables redirects it).
  uint16_t port = in.transparent ? in.app.port : in.listen.port;
  for (const auto& l : snapshot_->listeners) {
    if (l.kind != ListenerSpec::Kind::inbound || l.name != in.name) continue;
    if (auto b = bound_.find(l.key()); b != bound_.end()) port = b->second.endpoint.port();
  }
  std::string ip;
  uint16_t advertised_port = port;
  if (node.advertise_address) {
    ip = node.advertise_address->host;
    if (node.advertise_address->port != 0) advertised_port = node.advertise_address->port;
  } else {
    ip = advertisedIpv4(main_, in.listen.host);
  }
  discovery::cloudmap::InstanceRegistrationConfig rc;
  rc.endpoint = cfg.cloudmap->endpoint;
  rc.region = cfg.cloudmap->region;
  rc.namespace_name = node.cloudmap_namespace;
  rc.service_name = node.cloudmap_service;
  rc.instance_id = node.instance_id;
  if (rc.instance_id.empty()) {
    for (char c : hostName() + "-" + std::to_string(port)) {
      rc.instance_id += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_') ? c : '-';
    }
    if (rc.instance_id.size() > 64) rc.instance_id = rc.instance_id.substr(rc.instance_id.size() - 64);
  }
  for (const auto& [k, v] : node.attributes) rc.attributes[k] = v;
  rc.attributes["AWS_INSTANCE_IPV4"] = ip;
  rc.attributes["AWS_INSTANCE_PORT"] = std::to_string(advertised_port);
  const std::string where = node.cloudmap_namespace + "/" + node.cloudmap_service;
  const std::string instance = rc.instance_id;
  registration_ = std::make_unique<discovery::cloudmap::InstanceRegistration>(
      main_.get_executor(), rc, awsCredentials(),
      [this, where, instance](const discovery::cloudmap::RegistrationError& e) {
        metrics_.main().discovery_errors.Increment();
        log::warn("Cloud Map registration call failed; retrying", {{"service", where},
                                                                   {"instance", instance},
                                                                   {"operation", e.operation},
                                                                   {"kind", e.kind},
                                                                   {"error", e.message}});
      },
      [where, instance](const std::string& event) {
        log::info("self-registration: " + event, {{"service", where}, {"instance", instance}});
      });
  discovery::cloudmap::AppHealthCheckConfig hc;
  config::Address app = in.app;
  hc.url = "http://" + app.str() + node.app_health.path;
  hc.interval = node.app_health.interval;
  hc.timeout = node.app_health.timeout;
  app_health_ = std::make_unique<discovery::cloudmap::AppHealthCheck>(
      main_.get_executor(), hc, [this, url = hc.url](bool healthy, const std::string& detail) {
        if (!app_health_known_ || healthy != app_healthy_) {
          if (healthy)
            log::info("app health check passing", {{"url", url}});
          else
            log::warn("app health check failing", {{"url", url}, {"error", detail}});
        }
        app_health_known_ = true;
        app_healthy_ = healthy;
        if (registration_) registration_->setAppHealthy(healthy);
      });
  log::info("self-registration enabled", {{"service", where},
                                          {"instance", instance},
                                          {"address", ip + ":" + std::to_string(advertised_port)},
                                          {"endpoint", registration_->endpointUrl()},
                                          {"health_check", hc.url}});
  registration_->start();
  app_health_->start();
}

std::string Server::registrationState() const {
  if (!registration_) return "disabled";
  return std::string(discovery::cloudmap::toString(registration_->state()));
}

void Server::applyDiscoveredSet(const std::string& service, const std::vector<discovery::EndpointSpec>& specs,
                                const char* source_name) {
  auto cluster = snapshot_->service(service);
  if (!cluster) return;
  auto old = cluster->latest();
  auto set = discovery::mergeEndpoints(old.get(), specs);
  if (cluster->health_check) {
    // A new instance takes traffic only once it passes its first check, which runs now.
    std::unordered_set<const discovery::Endpoint*> known;
    for (const auto& e : *old) known.insert(e.get());
    for (const auto& e : *set) {
      if (!known.count(e.get())) e->unhealthy.store(true, std::memory_order_relaxed);
    }
    for (const auto& h : health_checkers_) {
      if (h->cluster() == cluster.get()) h->checkNow();
    }
  }
  cluster->setLatest(set);
  for (auto& w : workers_) {
    asio::post(w->context(), [cluster, set, id = w->id()] { cluster->install(id, set); });
  }
  updateEndpointGauges();
  log::info("endpoints updated", {{"service", service}, {"count", set->size()}, {"source", source_name}});
}

double Server::uptimeSeconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

Server::BoundListener Server::bind(const ListenerSpec& spec) {
  BoundListener b{spec.name, spec.kind, resolve(main_, spec.address), {}};
  for (auto& w : workers_) {
    auto acc = std::make_shared<tcp::acceptor>(w->context());
    boost::system::error_code ec;
    acc->open(b.endpoint.protocol(), ec);
    if (!ec) acc->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acc->set_option(reuse_port(true), ec);
    if (!ec) acc->bind(b.endpoint, ec);
    if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      throw std::runtime_error("listener " + spec.name + ": cannot listen on " + str(b.endpoint) + ": " + ec.message());
    }
    b.endpoint = acc->local_endpoint();  // the port picked for ":0" is shared by every worker
    b.per_worker.push_back(std::move(acc));
  }
  return b;
}

void Server::publish(std::shared_ptr<const Snapshot> snap, std::map<std::string, BoundListener> added,
                     std::vector<std::string> removed) {
  snapshot_ = snap;
  syncHealthCheckers();  // before any worker sees the snapshot: unchecked endpoints start out unhealthy
  for (size_t i = 0; i < workers_.size(); ++i) {
    std::vector<std::pair<std::string, std::shared_ptr<tcp::acceptor>>> adds;
    for (auto& [key, b] : added) adds.emplace_back(key, b.per_worker[i]);
    asio::post(workers_[i]->context(), [w = workers_[i].get(), snap, adds, removed] {
      w->setSnapshot(snap);
      for (const auto& [key, acc] : adds) w->addListener(key, acc);
      for (const auto& key : removed) w->removeListener(key);
    });
  }
  for (const auto& key : removed) bound_.erase(key);
  for (auto& [key, b] : added) bound_.emplace(key, std::move(b));
  updateEndpointGauges();
  // File sources of clusters that are gone stop being polled; new ones start.
  for (auto it = file_sources_.begin(); it != file_sources_.end();) {
    auto f = snapshot_->file_sources.find(it->first);
    if (f == snapshot_->file_sources.end() || f->second != it->second.path())
      it = file_sources_.erase(it);
    else
      ++it;
  }
  syncCloudMapSources();
  syncDnsSources();
  configureTracing();
  capture_->configure(*snapshot_->config, tls_);
  for (const auto& [name, path] : snapshot_->file_sources) {
    if (!file_sources_.count(name)) {
      discovery::FileSource source(path);
      discovery::FileParseResult ignored;
      source.poll(ignored);  // the snapshot compile already read this version
      file_sources_.emplace(name, std::move(source));
    }
  }
}

bool Server::installTls(const std::optional<config::Tls>& files, std::string& error) {
  std::shared_ptr<const TlsState> state;
  if (files) {
    auto stamps = stampTlsFiles(*files);
    state = buildTlsState(*files, error);
    if (!state) return false;
    tls_stamps_ = stamps;
    auto& expiry = metrics_.main().cert_expiry;
    expiry.Add({{"cert", "workload"}}).Set(static_cast<double>(state->certificate.not_after));
    for (const auto& ca : state->cas) {
      expiry.Add({{"cert", "ca:" + ca.subject}}).Set(static_cast<double>(ca.not_after));
    }
  }
  tls_ = state;
  if (snapshot_) capture_->configure(*snapshot_->config, tls_);
  for (auto& w : workers_) {
    asio::post(w->context(), [w = w.get(), state] { w->setTls(state); });
  }
  return true;
}

// Certificate rotation: a poll of at most one second, then a swap. Existing
// connections keep the contexts they were made with.
void Server::watchTlsFiles() {
  tls_timer_.expires_after(std::chrono::seconds(1));
  tls_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    const auto& files = snapshot_->config->tls;
    if (files && files->reload && stampTlsFiles(*files) != tls_stamps_) {
      auto stamps = stampTlsFiles(*files);
      std::string error;
      if (installTls(files, error)) {
        metrics_.main().tls_reloads_success.Increment();
        log::info("certificates reloaded", {{"identity", tls_->identity},
                                            {"not_after", tls_->certificate.not_after},
                                            {"serial", tls_->certificate.serial}});
      } else {
        tls_stamps_ = stamps;  // report a broken file once, not every second
        metrics_.main().tls_reloads_failure.Increment();
        log::error("new certificate material rejected; the previous material keeps serving", {{"error", error}});
      }
    }
    watchTlsFiles();
  });
}

// Active health checks run on worker 0 (its TLS context and connector), one
// checker per cluster; a cluster carried over by a reload keeps its checker
// and what it knows. A cluster without checks has no unhealthy endpoints.
void Server::syncHealthCheckers() {
  std::vector<std::shared_ptr<HealthChecker>> keep;
  for (const auto& c : snapshot_->clusters) {
    if (!c->health_check) {
      for (const auto& e : *c->latest()) e->unhealthy.store(false, std::memory_order_relaxed);
      continue;
    }
    auto it = std::find_if(health_checkers_.begin(), health_checkers_.end(),
                           [&](const auto& h) { return h->cluster() == c.get(); });
    if (it != health_checkers_.end()) {
      keep.push_back(*it);
    } else {
      for (const auto& e : *c->latest()) e->unhealthy.store(true, std::memory_order_relaxed);  // until checked
      keep.push_back(std::make_shared<HealthChecker>(*workers_.front(), c, *c->health_check));
      keep.back()->start();
    }
  }
  for (const auto& h : health_checkers_) {
    if (std::find(keep.begin(), keep.end(), h) == keep.end()) h->stop();
  }
  health_checkers_ = std::move(keep);
}

// hawser_endpoints{service,state}: healthy (a candidate), unhealthy (failing
// active health checks), ejected (by outlier detection).
void Server::updateEndpointGauges() {
  for (const auto& c : snapshot_->clusters) {
    double healthy = 0, unhealthy = 0, ejected = 0;
    for (const auto& e : *c->latest()) {
      if (e->unhealthy.load(std::memory_order_relaxed))
        ++unhealthy;
      else if (e->ejected.load(std::memory_order_relaxed))
        ++ejected;
      else
        ++healthy;
    }
    auto& family = metrics_.main().endpoints;
    family.Add({{"service", c->name()}, {"state", "healthy"}}).Set(healthy);
    family.Add({{"service", c->name()}, {"state", "unhealthy"}}).Set(unhealthy);
    family.Add({{"service", c->name()}, {"state", "ejected"}}).Set(ejected);
  }
}

// Ejected endpoints return when their time is up; checked ten times a second.
void Server::evaluateOutliers() {
  outlier_timer_.expires_after(std::chrono::milliseconds(100));
  outlier_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    auto now = std::chrono::steady_clock::now();
    for (const auto& c : snapshot_->clusters) {
      if (c->outlier) c->outlier->evaluate(now);
    }
    if (++outlier_ticks_ % 10 == 0) updateEndpointGauges();
    evaluateOutliers();
  });
}

void Server::startFileDiscovery() {
  file_timer_.expires_after(std::chrono::milliseconds(500));
  file_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    pollFiles();
    startFileDiscovery();
  });
}

void Server::pollFiles() {
  for (auto& [name, source] : file_sources_) {
    discovery::FileParseResult r;
    if (!source.poll(r)) continue;
    auto cluster = snapshot_->service(name);
    if (!cluster) continue;
    if (!r.error.empty()) {
      metrics_.main().discovery_errors.Increment();
      log::warn("file discovery failed; keeping the last endpoints",
                {{"service", name}, {"file", source.path()}, {"error", r.error}});
      continue;
    }
    if (r.endpoints.empty() && !cluster->latest()->empty()) {
      // Often a file caught half-written; as with Cloud Map, an empty list
      // never replaces a non-empty set.
      metrics_.main().discovery_errors.Increment();
      log::warn("file discovery returned no endpoints; keeping the last endpoints",
                {{"service", name}, {"file", source.path()}});
      continue;
    }
    applyDiscoveredSet(name, r.endpoints, "file");
  }
}

std::string Server::reload() {
  if (state_ == State::draining) return "the proxy is draining";
  try {
    auto cfg = config::loadFromEnvironmentOr(options_.config_path);
    if (cfg.workers != workers_.size()) {
      log::warn("a change of workers needs a restart; keeping the current count",
                {{"workers", workers_.size()}, {"configured", cfg.workers}});
      cfg.workers = static_cast<unsigned>(workers_.size());
    }
    if (!(cfg.admin == snapshot_->config->admin)) {
      log::warn("a change of admin.address needs a restart", {{"address", snapshot_->config->admin.str()}});
    }
    auto snap = compileSnapshot(std::make_shared<const config::Config>(std::move(cfg)), snapshot_.get(), metrics_);
    const auto& old_tls = snapshot_->config->tls;
    const auto& new_tls = snap->config->tls;
    const bool tls_changed =
        old_tls.has_value() != new_tls.has_value() ||
        (new_tls && (new_tls->cert != old_tls->cert || new_tls->key != old_tls->key || new_tls->ca != old_tls->ca ||
                     new_tls->crl != old_tls->crl || new_tls->crl_check != old_tls->crl_check ||
                     new_tls->min_version != old_tls->min_version));
    if (tls_changed) {
      std::string error;
      if (!installTls(new_tls, error)) throw config::ConfigError(snap->config->source + ": tls: " + error);
    }
    std::map<std::string, BoundListener> added;
    std::vector<std::string> removed;
    for (const auto& l : snap->listeners) {
      if (!bound_.count(l.key())) added.emplace(l.key(), bind(l));
    }
    for (const auto& [key, b] : bound_) {
      if (!snap->findListener(key)) removed.push_back(key);
    }
    publish(std::move(snap), std::move(added), std::move(removed));
    metrics_.main().reloads_success.Increment();
    log::info("configuration reloaded", {{"source", snapshot_->config->source}});
    return "";
  } catch (const std::exception& e) {
    metrics_.main().reloads_failure.Increment();
    log::error("configuration reload rejected; the previous configuration keeps serving", {{"error", e.what()}});
    return e.what();
  }
}

void Server::drain() {
  if (state_ == State::draining) return;
  state_ = State::draining;
  if (registration_) {
    deregisterThenDrain();
    return;
  }
  closeListenersAndDrain();
}

// Peers find this task through Cloud Map: take it out first, wait for that
// (bounded), and keep serving for deregister_grace while the peers' next
// polls drop it; only then stop accepting.
void Server::deregisterThenDrain() {
  if (app_health_) app_health_->stop();
  const auto& cfg = *snapshot_->config;
  auto bound = std::min<std::chrono::milliseconds>(std::chrono::seconds(2), cfg.drain_timeout / 2);
  auto grace = cfg.node.deregister_grace;
  auto started = std::chrono::steady_clock::now();
  auto done = std::make_shared<bool>(false);
  auto next = [this, done, grace, started](bool deregistered) {
    if (*done) return;
    *done = true;
    deregister_timer_.cancel();
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    if (deregistered) {
      log::info("deregistered from Cloud Map; serving through the deregister grace",
                {{"took", config::formatDuration(took)}, {"grace", config::formatDuration(grace)}});
    } else {
      log::warn("deregistration did not complete in time; draining anyway",
                {{"waited", config::formatDuration(took)}, {"grace", config::formatDuration(grace)}});
    }
    if (grace.count() == 0) {
      closeListenersAndDrain();
      return;
    }
    grace_timer_.expires_after(grace);
    grace_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) closeListenersAndDrain();
    });
  };
  log::info("draining: deregistering from Cloud Map first", {{"bound", config::formatDuration(bound)}});
  deregister_timer_.expires_after(bound);
  deregister_timer_.async_wait([next](boost::system::error_code ec) {
    if (!ec) next(false);
  });
  registration_->deregister([next] { next(true); });
}

void Server::closeListenersAndDrain() {
  auto timeout = snapshot_->config->drain_timeout;
  log::info("draining", {{"timeout", config::formatDuration(timeout)}});
  for (auto& w : workers_) asio::post(w->context(), [w = w.get()] { w->beginDrain(); });
  drain_deadline_ = std::chrono::steady_clock::now() + timeout;
  waitForDrain();
}

void Server::waitForDrain() {
  int active = 0;
  for (auto& w : workers_) active += w->activeConnections();
  auto now = std::chrono::steady_clock::now();
  bool expired = now >= drain_deadline_;
  if (active > 0 && expired && !closing_remaining_) {
    // Close what is left and let those sessions unwind on their workers
    // (access log, counters) for a moment before the workers stop.
    log::warn("drain timeout: closing remaining connections", {{"connections", active}});
    for (auto& w : workers_) asio::post(w->context(), [w = w.get()] { w->closeConnections(); });
    closing_remaining_ = true;
    drain_deadline_ = now + kCloseGrace;
    expired = false;
  }
  if (active == 0 || expired) {
    if (active) log::warn("connections still open after closing them; exiting anyway", {{"connections", active}});
    flushAndExit();
    return;
  }
  drain_timer_.expires_after(std::chrono::milliseconds(25));
  drain_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) waitForDrain();
  });
}

// Spans and capture records of the last requests are shipped before exit,
// for at most min(drain_timeout, 5 s) more, both at once.
void Server::flushAndExit() {
  const bool spans = tracer_started_ && tracer_->queued() > 0;
  const bool records = capture_->started() && capture_->shipper().queuedBytes() > 0;
  if (!spans && !records) {
    exitNow();
    return;
  }
  auto bound = std::min<std::chrono::milliseconds>(snapshot_->config->drain_timeout, std::chrono::seconds(5));
  const auto deadline = std::chrono::steady_clock::now() + bound;
  log::info("drained; flushing spans and capture records", {{"spans", tracer_->queued()},
                                                            {"capture_bytes", capture_->shipper().queuedBytes()},
                                                            {"bound", config::formatDuration(bound)}});
  auto pending = std::make_shared<int>((spans ? 1 : 0) + (records ? 1 : 0));
  auto one_done = [this, pending] {
    if (--*pending == 0) exitNow();
  };
  if (spans) tracer_->shutdown(deadline, one_done);
  if (records) capture_->shutdown(deadline, one_done);
}

void Server::exitNow() {
  {
    log::info("drained; exiting");
    admin_->stop();
    file_timer_.cancel();
    if (app_health_) app_health_->stop();
    if (registration_) registration_->stop();
    for (auto& [name, watch] : cloudmap_) watch.source->stop();
    for (auto& [name, watch] : dns_) watch.source->stop();
    tls_timer_.cancel();
    outlier_timer_.cancel();
    for (const auto& h : health_checkers_) h->stop();
    boost::system::error_code ignored;
    signals_.cancel(ignored);
    main_.stop();
  }
}

void Server::handleSignals() {
  signals_.async_wait([this](boost::system::error_code ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      reload();
    } else {
      drain();
    }
    handleSignals();
  });
}

std::optional<telemetry::ExporterSettings> Server::tracingSettings() const {
  const auto& t = snapshot_->config->tracing;
  if (!t) return std::nullopt;
  telemetry::ExporterSettings es;
  es.url = t->endpoint;
  es.json = t->json;
  es.gzip = t->gzip;
  es.headers = t->headers;
  es.timeout = t->timeout;
  es.max_batch_spans = t->max_batch_spans;
  es.max_batch_bytes = t->max_batch_bytes;
  es.batch_delay = t->batch_delay;
  es.max_queue_spans = t->max_queue_spans;
  return es;
}

void Server::configureTracing() {
  auto es = tracingSettings();
  if (!es) return;  // the exporter (if it ran) keeps its queue; nothing new is submitted
  if (tracer_started_) {
    tracer_->configure(std::move(*es), tracing_resource_);
    return;
  }
  tracer_started_ = true;
  tracer_->configure(std::move(*es), {});
  asio::co_spawn(main_, startTracing(), asio::detached);
}

// The resource is read once, before the first export: hawser's names, the
// ECS task metadata (when ECS_CONTAINER_METADATA_URI_V4 is set; 2 s bound),
// then OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME.
asio::awaitable<void> Server::startTracing() {
  const auto& cfg = *snapshot_->config;
  telemetry::ResourceInput in;
  in.service = cfg.node.service;
  in.service_ns = cfg.node.ns;
  in.instance_id = cfg.node.instance_id.empty() ? hostName() : cfg.node.instance_id;
  in.version = HAWSER_VERSION;
  auto resource = telemetry::baseResource(in);
  auto env = [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (!v || !*v) return std::nullopt;
    return std::string(v);
  };
  if (auto uri = env("ECS_CONTAINER_METADATA_URI_V4")) {
    auto http = discovery::cloudmap::makeHttpTransport(main_.get_executor());
    auto get = [&](std::string url) -> asio::awaitable<discovery::cloudmap::HttpResponse> {
      discovery::cloudmap::HttpRequest rq;
      rq.method = "GET";
      rq.url = std::move(url);
      rq.timeout = std::chrono::seconds(2);
      co_return co_await http(std::move(rq));
    };
    auto task = co_await get(*uri + "/task");
    auto container = co_await get(*uri);
    std::string problem = !task.error.empty()  ? task.error
                          : task.status != 200 ? "HTTP " + std::to_string(task.status)
                                               : "";
    if (problem.empty() &&
        !telemetry::addEcsResource(resource, task.body, container.status == 200 ? container.body : "")) {
      problem = "the task document is not a JSON object";
    }
    if (!problem.empty()) {
      log::warn("ECS task metadata unavailable; spans carry no ECS resource attributes",
                {{"uri", *uri}, {"error", problem}});
    }
  }
  std::string error;
  telemetry::addEnvironmentResource(resource, env, error);
  if (!error.empty()) log::warn(error);
  tracing_resource_ = std::move(resource);
  if (auto es = tracingSettings()) tracer_->configure(std::move(*es), tracing_resource_);
  tracer_->start();
  log::info("tracing on", {{"endpoint", snapshot_->config->tracing ? snapshot_->config->tracing->endpoint : ""}});
}

int Server::run() {
  try {
    admin_->listen(resolve(main_, snapshot_->config->admin));
    std::map<std::string, BoundListener> added;
    for (const auto& l : snapshot_->listeners) added.emplace(l.key(), bind(l));
    for (auto& w : workers_) w->start();
    publish(snapshot_, std::move(added), {});
    startRegistration();
  } catch (const std::exception& e) {
    log::error("startup failed", {{"error", e.what()}});
    return 1;
  }
  auto admin_address = str(admin_->endpoint());
  if (!options_.admin_address_path.empty()) {
    std::ofstream out(options_.admin_address_path + ".tmp");
    out << admin_address;
    out.close();
    std::rename((options_.admin_address_path + ".tmp").c_str(), options_.admin_address_path.c_str());
  }
  handleSignals();
  startFileDiscovery();
  watchTlsFiles();
  evaluateOutliers();
  state_ = State::live;
  for (const auto& [key, b] : bound_) {
    log::info("listening", {{"listener", b.name}, {"kind", name(b.kind)}, {"address", str(b.endpoint)}});
  }
  log::info("hawser is live", {{"admin", admin_address}, {"workers", workers_.size()}, {"version", HAWSER_VERSION}});
  main_.run();
  for (auto& w : workers_) w->stop();
  // Acceptors and health checkers belong to the workers' io_contexts:
  // release them first (~Server must not post to a worker that is gone).
  bound_.clear();
  health_checkers_.clear();
  workers_.clear();
  return exit_code_;
}

std::string Server::configDumpJson() const {
  return boost::json::serialize(config::toJson(*snapshot_->config)) + "\n";
}

std::string Server::metricsText() const {
  capture_->updateGauges();
  return metrics_.serialize();
}

std::string Server::clustersJson() const {
  boost::json::array clusters;
  for (const auto& c : snapshot_->clusters) {
    boost::json::array eps;
    for (const auto& e : *c->latest()) {
      boost::json::object o;
      o["address"] = e->key;
      o["health"] = e->unhealthy.load(std::memory_order_relaxed) ? "unhealthy" : "healthy";
      o["zone"] = e->zone;
      o["weight"] = e->weight;
      o["ejected"] = e->ejected.load(std::memory_order_relaxed);
      o["active_requests"] = e->active_requests.load(std::memory_order_relaxed);
      eps.push_back(std::move(o));
    }
    boost::json::object o;
    o["name"] = c->name();
    o["endpoints"] = std::move(eps);
    clusters.push_back(std::move(o));
  }
  boost::json::object root;
  root["clusters"] = std::move(clusters);
  return boost::json::serialize(root) + "\n";
}

namespace {
boost::json::object describe(const tls::CertificateDescription& d) {
  boost::json::object o;
  o["subject"] = d.subject;
  o["issuer"] = d.issuer;
  o["identity"] = d.identity;
  o["serial"] = d.serial;
  o["uris"] = boost::json::value_from(d.sans.uris);
  o["dns"] = boost::json::value_from(d.sans.dns);
  o["not_before"] = d.not_before;
  o["not_after"] = d.not_after;
  o["seconds_left"] = d.seconds_left;
  return o;
}
}  // namespace

std::string Server::certsJson() const {
  boost::json::object root;
  if (!tls_) {
    root["tls"] = false;
  } else {
    // Recomputed so seconds_left is current; never any key material.
    auto now = std::time(nullptr);
    auto cert = tls_->certificate;
    cert.seconds_left = cert.not_after - now;
    root["tls"] = true;
    root["identity"] = tls_->identity;
    root["certificate"] = describe(cert);
    boost::json::array cas;
    for (auto ca : tls_->cas) {
      ca.seconds_left = ca.not_after - now;
      cas.push_back(describe(ca));
    }
    root["ca"] = std::move(cas);
    root["files"] = {{"cert", tls_->files.cert}, {"ca", tls_->files.ca}, {"crl", tls_->files.crl}};
    root["crl_check"] = tls_->files.crl_check;
  }
  return boost::json::serialize(root) + "\n";
}

std::string Server::listenersJson() const {
  boost::json::array list;
  boost::json::object admin;
  admin["name"] = "admin";
  admin["kind"] = "admin";
  admin["address"] = str(admin_->endpoint());
  list.push_back(std::move(admin));
  for (const auto& [key, b] : bound_) {
    boost::json::object o;
    o["name"] = b.name;
    o["kind"] = name(b.kind);
    o["address"] = str(b.endpoint);
    list.push_back(std::move(o));
  }
  boost::json::object root;
  root["listeners"] = std::move(list);
  return boost::json::serialize(root) + "\n";
}

}  // namespace hawser
