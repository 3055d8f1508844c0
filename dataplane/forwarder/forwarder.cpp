#include "dataplane/forwarder/forwarder.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/text_serializer.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "dataplane/accept_backoff.h"
#include "dataplane/contained_spawn.h"
#include "dataplane/forwarder/s3_client.h"
#include "dataplane/tls/identity.h"
#include "dataplane/tls_state.h"
#include "discovery/cloudmap/credentials_provider.h"
#include "telemetry/capture/batch.h"
#include "telemetry/log.h"

// GCC 12 misreads a coroutine frame's sized delete as mismatched.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace hawser::forwarder {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
constexpr auto tok = asio::as_tuple(asio::use_awaitable);

namespace {

template <class T>
auto& family(prometheus::Registry& r, const std::string& name, const std::string& help) {
  if constexpr (std::is_same_v<T, prometheus::Counter>)
    return prometheus::BuildCounter().Name(name).Help(help).Register(r);
  else
    return prometheus::BuildGauge().Name(name).Help(help).Register(r);
}

tcp::endpoint endpointOf(const config::Address& a) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(a.host, ec);
  if (ec) throw std::runtime_error("not an IP address: " + a.host);
  return {addr, a.port};
}

std::string jsonError(std::string_view message) {
  json::object o;
  o["error"] = message;
  return json::serialize(o) + "\n";
}

// Connections being served, for the drain.
int active_sessions = 0;
struct ActiveSession {
  ActiveSession() { ++active_sessions; }
  ~ActiveSession() { --active_sessions; }
};

template <class Stream>
asio::awaitable<void> serveHttp(Forwarder& f, Stream& stream, beast::tcp_stream& lowest, std::string refusal) {
  beast::flat_buffer buf;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(f.config().max_batch_bytes);
    lowest.expires_after(std::chrono::seconds(30));
    auto [ec, n] = co_await http::async_read(stream, buf, parser, tok);
    http::response<http::string_body> res;
    res.version(11);
    res.set(http::field::server, "hawser-forwarder");
    res.set(http::field::content_type, "application/json");
    bool close = false;
    if (ec == http::error::body_limit) {
      res.result(http::status::payload_too_large);
      res.body() = jsonError("the batch is larger than limits.max_batch_bytes");
      close = true;
    } else if (ec) {
      break;
    } else {
      const auto& req = parser.get();
      std::string_view target = req.target();
      auto path = target.substr(0, target.find('?'));
      if (!refusal.empty()) {
        res.result(http::status::forbidden);
        res.body() = jsonError(refusal);
        close = true;
      } else if (path != "/v1/capture") {
        res.result(http::status::not_found);
        res.body() = jsonError("not found; POST /v1/capture");
      } else if (req.method() != http::verb::post) {
        res.result(http::status::method_not_allowed);
        res.body() = jsonError("POST only");
      } else {
        auto r = f.acceptBatch(req.body(), req[http::field::content_encoding]);
        res.result(static_cast<http::status>(r.status));
        res.body() = std::move(r.body);
        if (!r.retry_after.empty()) res.set(http::field::retry_after, r.retry_after);
      }
      close = close || !req.keep_alive() || f.draining();
    }
    res.keep_alive(!close);
    res.prepare_payload();
    lowest.expires_after(std::chrono::seconds(30));
    auto [wec, wn] = co_await http::async_write(stream, res, tok);
    if (wec || close) break;
  }
}

asio::awaitable<void> session(Forwarder& f, tcp::socket socket) {
  ActiveSession active;
  socket.set_option(tcp::no_delay(true));
  beast::tcp_stream stream(std::move(socket));
  if (!f.tls()) {
    co_await serveHttp(f, stream, stream, "");
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> tls(std::move(stream), *f.tls()->server);
  beast::get_lowest_layer(tls).expires_after(std::chrono::seconds(10));
  auto [hec] = co_await tls.async_handshake(asio::ssl::stream_base::server, tok);
  if (hec) {
    log::info("forwarder: TLS handshake failed", {{"error", hec.message()}});
    co_return;
  }
  auto identity = tls::peerIdentity(SSL_get0_peer_certificate(tls.native_handle())).value_or("");
  std::string refusal;
  if (!f.allowed(identity)) {
    f.refusedPeers().Increment();
    log::warn("forwarder: a sender's identity is not allowed", {{"identity", identity.empty() ? "(none)" : identity}});
    refusal = "identity " + (identity.empty() ? std::string("(none)") : identity) + " may not send capture batches";
  }
  co_await serveHttp(f, tls, beast::get_lowest_layer(tls), refusal);
  beast::get_lowest_layer(tls).expires_after(std::chrono::seconds(1));
  co_await tls.async_shutdown(tok);
}

asio::awaitable<void> acceptLoop(Forwarder& f, std::shared_ptr<tcp::acceptor> acceptor) {
  AcceptBackoff backoff("forwarder", f.servingErrors().accept_errors);
  while (auto socket = co_await backoff.accept(*acceptor)) {
    spawnContained(acceptor->get_executor(), session(f, std::move(*socket)), "forwarder session",
                   f.servingErrors().internal_errors);
  }
}

}  // namespace

Forwarder::Forwarder(ForwarderConfig cfg)
    : cfg_(std::move(cfg)),
      errors_(registry_),
      admin_refused_(
          family<prometheus::Counter>(registry_, "hawser_admin_refused_total",
                                      "Admin requests refused (cross-site, foreign Host, simple POST), by reason.")),
      batches_(family<prometheus::Counter>(registry_, "hawser_forwarder_batches_total",
                                           "Capture batches answered, by HTTP status code.")),
      roll_timer_(ctx_),
      signals_(ctx_, SIGTERM, SIGINT) {
  auto& records = family<prometheus::Counter>(registry_, "hawser_forwarder_records_total",
                                              "Capture records made durable (stored), and of those, redacted.");
  records_stored_ = &records.Add({{"outcome", "stored"}});
  records_redacted_ = &records.Add({{"outcome", "redacted"}});
  refused_peers_ = &family<prometheus::Counter>(registry_, "hawser_forwarder_refused_peers_total",
                                                "TLS senders whose identity authorization.allow does not name.")
                        .Add({});
  spool_bytes_ = &family<prometheus::Gauge>(registry_, "hawser_forwarder_spool_bytes",
                                            "Bytes in the spool (open and closed segments).")
                      .Add({});
  auto& segments = family<prometheus::Gauge>(registry_, "hawser_forwarder_segments", "Spool segments, by state.");
  segments_open_ = &segments.Add({{"state", "open"}});
  segments_closed_ = &segments.Add({{"state", "closed"}});
  auto& uploads = family<prometheus::Counter>(registry_, "hawser_forwarder_uploads_total",
                                              "Segment uploads to the archive, by result.");
  telemetry::ArchiverCounters ac;
  ac.uploaded = &uploads.Add({{"result", "success"}});
  ac.failed = &uploads.Add({{"result", "failure"}});
  ac.records = &family<prometheus::Counter>(registry_, "hawser_forwarder_uploaded_records_total",
                                            "Records in segments uploaded to the archive.")
                    .Add({});
  ac.bytes = &family<prometheus::Counter>(registry_, "hawser_forwarder_uploaded_bytes_total",
                                          "Object bytes uploaded to the archive (compressed).")
                  .Add({});
  for (const char* code : {"200", "400", "403", "413", "415", "503"}) batches_.Add({{"code", code}});

  std::string error;
  if (cfg_.tls) {
    tls_ = buildTlsState(*cfg_.tls, error);
    if (!tls_) throw config::ConfigError(cfg_.source + ": tls: " + error);
  }
  telemetry::SpoolSettings ss{cfg_.spool, cfg_.max_spool_bytes, cfg_.segment_max_bytes, cfg_.segment_max_age};
  if (!spool_.open(ss, error)) throw std::runtime_error("storage.spool: " + error);
  if (spool_.recoveredRecords() || spool_.closedSegments()) {
    log::info("forwarder: resuming the spool", {{"segments", spool_.closedSegments()},
                                                {"records_in_recovered_open_segments", spool_.recoveredRecords()},
                                                {"torn_bytes_cut", spool_.truncatedBytes()}});
  }
  if (cfg_.s3) {
    sink_ = makeS3Sink(*cfg_.s3);
  } else {
    sink_ = std::make_unique<telemetry::DirectorySink>(cfg_.archive_dir);
  }
  archiver_ = std::make_unique<telemetry::Archiver>(spool_, *sink_, cfg_.prefix, ac);
}

Forwarder::~Forwarder() {
  archiver_->stop(std::chrono::steady_clock::now());
  if (credentials_) credentials_->stop();
}

std::unique_ptr<telemetry::ArchiveSink> Forwarder::makeS3Sink(const S3Storage& s3) {
  namespace cm = discovery::cloudmap;
  const auto env = cm::processEnvironment();
  S3Location where{s3.endpoint, s3.region, s3.bucket, s3.path_style};
  if (where.region.empty()) where.region = defaultS3Region(env);
  if (where.endpoint.empty()) where.endpoint = defaultS3Endpoint(env, where.region);
  if (!s3Origin(where))
    throw config::ConfigError(cfg_.source + ": storage.s3.endpoint: not http(s)://host[:port]: " + where.endpoint);
  credentials_ = cm::makeDefaultCredentialsProvider(ctx_.get_executor(), env, cm::fileReader(), {},
                                                    [](std::string_view msg, const std::string& detail) {
                                                      log::warn(std::string(msg), {{"detail", detail}});
                                                    });
  if (!credentials_)
    throw std::runtime_error(
        "storage.s3 needs AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where ECS "
        "container credentials are available (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI)");
  credentials_->start();
  log::info("forwarder: archive in S3", {{"bucket", where.bucket},
                                         {"endpoint", where.endpoint},
                                         {"region", where.region},
                                         {"credentials", credentials_->describe()}});
  S3Options options{s3.multipart_threshold, s3.part_size, s3.timeout};
  return std::make_unique<S3Sink>(
      std::make_unique<S3Client>(where, options, [c = credentials_] { return c->current(); }));
}

bool Forwarder::allowed(std::string_view identity) const {
  if (cfg_.allow.empty()) return true;  // any peer the CA vouches for
  return !identity.empty() && tls::identityAllowed(cfg_.allow, identity);
}

BatchResult Forwarder::acceptBatch(std::string_view body, std::string_view encoding) {
  auto answer = [&](unsigned status, std::string text, std::string retry_after = "") {
    batches_.Add({{"code", std::to_string(status)}}).Increment();
    return BatchResult{status, std::move(text), std::move(retry_after)};
  };
  if (draining_) return answer(503, jsonError("draining"), "1");
  auto batch = telemetry::decodeBatch(body, encoding, {cfg_.max_batch_inflated_bytes}, cfg_.redact);
  if (batch.status != 200) return answer(batch.status, jsonError(batch.error + "; the batch was not stored"));
  const auto& records = batch.records;
  const size_t redacted = batch.redacted;
  std::string error;
  switch (spool_.append(records, error)) {
    case telemetry::Spool::Append::ok: break;
    case telemetry::Spool::Append::full:
      return answer(503, jsonError("the spool is full (storage.max_spool_bytes); retry later"), "5");
    case telemetry::Spool::Append::failed:
      log::error("forwarder: cannot make a batch durable", {{"error", error}});
      return answer(503, jsonError("the batch could not be made durable; retry"), "1");
  }
  records_stored_->Increment(static_cast<double>(records.size()));
  if (redacted) records_redacted_->Increment(static_cast<double>(redacted));
  json::object ok;
  ok["stored"] = records.size();
  return answer(200, json::serialize(ok) + "\n");
}

std::string Forwarder::metricsText() {
  spool_bytes_->Set(static_cast<double>(spool_.bytes()));
  segments_open_->Set(static_cast<double>(spool_.openSegments()));
  segments_closed_->Set(static_cast<double>(spool_.closedSegments()));
  return prometheus::TextSerializer().Serialize(registry_.Collect());
}

std::optional<AdminResponse> Forwarder::serveAdmin(std::string_view method, std::string_view path) {
  const bool get = method == "GET" || method == "HEAD";
  if (path == "/ready") {
    if (!get) return adminMethodNotAllowed();
    if (live_ && !draining_) return AdminResponse{200, "text/plain", "ready\n"};
    return AdminResponse{503, "text/plain", draining_ ? "draining\n" : "not ready\n"};
  }
  if (path == "/server_info") {
    if (!get) return adminMethodNotAllowed();
    json::object o;
    o["state"] = draining_ ? "DRAINING" : live_ ? "LIVE" : "PRE_INITIALIZING";
    o["version"] = HAWSER_VERSION;
    o["role"] = "forwarder";
    o["uptime_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    return adminJson(json::serialize(o) + "\n");
  }
  if (path == "/metrics") {
    if (!get) return adminMethodNotAllowed();
    return AdminResponse{200, "text/plain; version=0.0.4; charset=utf-8", metricsText()};
  }
  return std::nullopt;
}

std::string Forwarder::adminEndpoints() const {
  return "/ready /server_info /metrics";
}

void Forwarder::rollTimer() {
  roll_timer_.expires_after(std::min<std::chrono::milliseconds>(cfg_.segment_max_age / 4 + std::chrono::milliseconds(1),
                                                                std::chrono::seconds(1)));
  roll_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    spool_.closeExpired();
    rollTimer();
  });
}

void Forwarder::drain() {
  if (draining_) return;
  draining_ = true;
  log::info("forwarder: draining");
  boost::system::error_code ignored;
  if (acceptor_) acceptor_->close(ignored);
  const auto deadline = std::chrono::steady_clock::now() + cfg_.drain_timeout;
  auto wait = std::make_shared<asio::steady_timer>(ctx_);
  auto step = std::make_shared<std::function<void()>>();
  *step = [this, wait, step, deadline] {
    if (active_sessions > 0 && std::chrono::steady_clock::now() < deadline) {
      wait->expires_after(std::chrono::milliseconds(25));
      wait->async_wait([step](boost::system::error_code) { (*step)(); });
      return;
    }
    roll_timer_.cancel();
    spool_.closeExpired(true);
    // Closed segments keep uploading until the drain deadline; the rest wait in the spool for the next start.
    archiver_->stop(deadline);
    log::info("forwarder: drained; exiting", {{"segments_left", spool_.closedSegments()}});
    admin_->stop();
    ctx_.stop();
    *step = nullptr;
  };
  (*step)();
}

int Forwarder::run(const std::string& admin_address_path) {
  try {
    admin_ = std::make_unique<AdminServer>(ctx_, *this, admin_refused_, errors_);
    admin_->listen(endpointOf(cfg_.admin));
    acceptor_ = std::make_shared<tcp::acceptor>(ctx_);
    auto ep = endpointOf(cfg_.listen);
    acceptor_->open(ep.protocol());
    acceptor_->set_option(tcp::acceptor::reuse_address(true));
    acceptor_->bind(ep);
    acceptor_->listen();
  } catch (const std::exception& e) {
    log::error("forwarder: startup failed", {{"error", e.what()}});
    return 1;
  }
  if (!admin_address_path.empty()) {
    auto a = admin_->endpoint();
    std::ofstream out(admin_address_path + ".tmp");
    out << a.address().to_string() << ":" << a.port();
    out.close();
    std::rename((admin_address_path + ".tmp").c_str(), admin_address_path.c_str());
  }
  spawnContained(ctx_, acceptLoop(*this, acceptor_), "forwarder accept", errors_.internal_errors);
  signals_.async_wait([this](boost::system::error_code ec, int) {
    if (!ec) drain();
  });
  archiver_->start();
  rollTimer();
  live_ = true;
  auto bound = acceptor_->local_endpoint();
  log::info("forwarder: listening", {{"address", bound.address().to_string() + ":" + std::to_string(bound.port())},
                                     {"tls", tls_ ? "mutual" : "disabled"},
                                     {"archive", sink_->describe()}});
  ctx_.run();
  return 0;
}

namespace {
const char* kHelp =
    "usage: hawser forwarder --config FILE [--admin-address-path FILE] [--check]\n"
    "\n"
    "  --config FILE               the forwarder's YAML configuration (docs/capture.md);\n"
    "                              without it, $HAWSER_CONFIG_YAML holds the whole document\n"
    "  --admin-address-path FILE   write the bound admin address (host:port) to FILE\n"
    "  --check                     validate the configuration, print \"ok\" and exit\n"
    "\n"
    "Signals: SIGTERM/SIGINT drain (stop accepting, finish batches, upload until drain_timeout) then exit 0.\n";
}

int forwarderMain(const std::vector<std::string>& args) {
  std::string config_path, address_path;
  bool check = false;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      std::cout << kHelp;
      return 0;
    }
    if (args[i] == "--check") {
      check = true;
    } else if (args[i] == "--config" && i + 1 < args.size()) {
      config_path = args[++i];
    } else if (args[i] == "--admin-address-path" && i + 1 < args.size()) {
      address_path = args[++i];
    } else {
      std::cerr << "hawser: unknown or incomplete option '" << args[i] << "'\n\n" << kHelp;
      return 2;
    }
  }
  // As the sidecar's: an ECS task definition carries the document in the environment, so the
  // forwarder needs no volume for its configuration. --config wins.
  const char* yaml_env = std::getenv("HAWSER_CONFIG_YAML");
  bool from_env = config_path.empty() && yaml_env != nullptr && *yaml_env != '\0';
  if (config_path.empty() && !from_env) {
    std::cerr << "hawser: forwarder needs --config FILE (or HAWSER_CONFIG_YAML)\n\n" << kHelp;
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 1 << 16);
  try {
    auto cfg = from_env ? loadForwarderText(yaml_env, "HAWSER_CONFIG_YAML") : loadForwarderFile(config_path);
    if (check) {
      std::cout << "ok\n";
      return 0;
    }
    Forwarder f(std::move(cfg));
    return f.run(address_path);
  } catch (const config::ConfigError& e) {
    std::cerr << "hawser: config error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "hawser: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace hawser::forwarder
