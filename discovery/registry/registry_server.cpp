#include "discovery/registry/registry_server.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <list>
#include <system_error>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/serialize.hpp>

#include "discovery/registry/state_file.h"

namespace hawser::discovery::registry {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using asio::as_tuple;
using asio::use_awaitable;

namespace {

constexpr std::chrono::seconds kIdleTimeout{60};
constexpr std::uint32_t kHeaderLimit = 16 * 1024;
constexpr std::uint64_t kBodyLimit = 1024 * 1024;

// One JSON object per line on stdout (the project's log format); flushed so
// a parent process reading the pipe sees it at once.
void logLine(std::string_view level, std::string_view msg, boost::json::object fields = {}) {
  boost::json::object o;
  o["level"] = level;
  o["msg"] = msg;
  for (auto& [k, v] : fields) o[k] = std::move(v);
  std::string line = boost::json::serialize(o);
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

tcp::endpoint parseListen(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument("--listen must be HOST:PORT, got '" + listen + "'");
  std::string host = listen.substr(0, colon);
  std::string port_text = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "127.0.0.1";
  if (host == "localhost") host = "127.0.0.1";
  char* end = nullptr;
  long port = std::strtol(port_text.c_str(), &end, 10);
  if (port_text.empty() || *end != '\0' || port < 0 || port > 65535) {
    throw std::invalid_argument("--listen: bad port in '" + listen + "'");
  }
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) throw std::invalid_argument("--listen: '" + host + "' is not an IP address");
  return {address, static_cast<unsigned short>(port)};
}

std::string formatEndpoint(const tcp::endpoint& ep) {
  if (ep.address().is_v6()) return "[" + ep.address().to_string() + "]:" + std::to_string(ep.port());
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

// The HOST:PORT a client on this machine connects to: a wildcard listen
// address becomes the loopback address of its family.
std::string clientAddress(const std::string& bound) {
  if (bound.starts_with("0.0.0.0:")) return "127.0.0.1" + bound.substr(7);
  if (bound.starts_with("[::]:")) return "[::1]" + bound.substr(4);
  return bound;
}

}  // namespace

struct RegistryServer::Impl : std::enable_shared_from_this<Impl> {
  asio::any_io_executor executor;
  RegistryServerOptions options;
  RegistryApi api;
  tcp::acceptor acceptor;
  std::list<beast::tcp_stream*> open_streams;
  bool stopped = false;
  uint64_t request_counter = 0;

  Impl(asio::any_io_executor ex, RegistryServerOptions opts, RegistryState state)
      : executor(ex), options(std::move(opts)), api(options.api, std::move(state)), acceptor(ex) {}

  asio::awaitable<void> acceptLoop() {
    auto self = shared_from_this();
    asio::steady_timer backoff(executor);
    while (!stopped) {
      auto [ec, socket] = co_await acceptor.async_accept(as_tuple(use_awaitable));
      if (stopped || ec == asio::error::operation_aborted) co_return;
      if (ec) {
        // EMFILE and friends: back off instead of spinning or dying.
        logLine("warn", "registry accept failed", {{"error", ec.message()}});
        backoff.expires_after(std::chrono::milliseconds(100));
        co_await backoff.async_wait(as_tuple(use_awaitable));
        continue;
      }
      asio::co_spawn(executor, session(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> session(tcp::socket socket) {
    auto self = shared_from_this();
    beast::tcp_stream stream(std::move(socket));
    auto registered = open_streams.insert(open_streams.end(), &stream);
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(kHeaderLimit);
      parser.body_limit(kBodyLimit);
      stream.expires_after(kIdleTimeout);
      auto [rec, n] = co_await http::async_read(stream, buffer, parser, as_tuple(use_awaitable));
      if (rec) break;
      auto& req = parser.get();
      RegistryRequest request;
      request.method = std::string(req.method_string());
      request.target = std::string(req.target());
      for (const auto& field : req) request.headers.emplace_back(field.name_string(), field.value());
      request.body = std::move(req.body());

      RegistryResponse result = api.handle(request, std::chrono::system_clock::now());
      if (result.mutated && !options.data_file.empty()) {
        if (auto err = saveStateFile(options.data_file, api.state()); !err.empty()) {
          logLine("error", "registry state not saved", {{"error", err}});
        }
      }
      if (options.log_requests) {
        logLine("info", "registry request",
                {{"operation", result.operation},
                 {"status", result.status},
                 {"error", result.error_type},
                 {"access_key", result.access_key},
                 {"session_token", result.has_session_token}});
      }

      http::response<http::string_body> res{static_cast<http::status>(result.status), req.version()};
      res.set(http::field::server, "hawser-registry");
      res.set(http::field::content_type, "application/x-amz-json-1.1");
      res.set("x-amzn-RequestId", "hawser-" + std::to_string(++request_counter));
      if (!result.error_type.empty()) res.set("X-Amzn-ErrorType", result.error_type);
      res.keep_alive(req.keep_alive() && !stopped);
      res.body() = std::move(result.body);
      res.prepare_payload();
      stream.expires_after(kIdleTimeout);
      auto [wec, wn] = co_await http::async_write(stream, res, as_tuple(use_awaitable));
      if (wec || !res.keep_alive()) break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    open_streams.erase(registered);
  }
};

RegistryServer::RegistryServer(asio::any_io_executor executor, RegistryServerOptions options) {
  RegistryState state;
  if (!options.data_file.empty()) state = loadStateFile(options.data_file);
  impl_ = std::make_shared<Impl>(executor, std::move(options), std::move(state));
}

RegistryServer::~RegistryServer() {
  stop();
}

std::string RegistryServer::start() {
  auto endpoint = parseListen(impl_->options.listen);
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
  asio::co_spawn(impl_->executor, impl_->acceptLoop(), asio::detached);
  return formatEndpoint(acceptor.local_endpoint());
}

void RegistryServer::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
  for (auto* s : impl_->open_streams) s->socket().close(ignored);
}

const RegistryApi& RegistryServer::api() const {
  return impl_->api;
}

// ---------------------------------------------------------------- subcommand

namespace {

const char* kRegistryHelp =
    "usage: hawser registry --listen ADDR [--data FILE] [--credentials ACCESS_KEY:SECRET]\n"
    "                       [--address-file PATH] [--region REGION] [--account ID]\n"
    "                       [--rate-limit RPS[:BURST]] [--log-requests]\n"
    "\n"
    "A local AWS Cloud Map-compatible registry (AWS JSON 1.1 over HTTP/1.1) for\n"
    "development, tests and the demo. It is a DEVELOPMENT TOOL, not a production\n"
    "registry: one process, no replication, plain HTTP, changes applied at once.\n"
    "\n"
    "  --listen ADDR         HOST:PORT to listen on; PORT 0 picks a free port and\n"
    "                        ':PORT' means 127.0.0.1. The bound address is printed as\n"
    "                        {\"msg\":\"registry listening\",\"address\":\"HOST:PORT\",...},\n"
    "                        with the endpoint for the sidecar and the AWS SDKs, and\n"
    "                        the AWS CLI's --endpoint-url (http://hawser@HOST:PORT: the\n"
    "                        CLI's data- host prefix then lands on the user name)\n"
    "  --data FILE           load the state from FILE at start and save it after\n"
    "                        every change (temp file + fsync + rename)\n"
    "  --credentials AK:SK   require SigV4 signatures (service servicediscovery) by\n"
    "                        this access key; any session token is accepted. Also\n"
    "                        read from $HAWSER_REGISTRY_CREDENTIALS\n"
    "  --address-file PATH   also write the bound HOST:PORT to PATH\n"
    "  --region REGION       region used in ARNs (default us-east-1)\n"
    "  --account ID          12-digit account id used in ARNs (default 123456789012)\n"
    "  --rate-limit RPS[:B]  answer 429 RequestLimitExceeded above RPS (burst B, default 10)\n"
    "  --log-requests        one JSON log line per request\n"
    "\n"
    "Operations: CreateHttpNamespace, CreatePrivateDnsNamespace, DeleteNamespace,\n"
    "GetNamespace, GetOperation, ListNamespaces, CreateService, GetService,\n"
    "DeleteService, ListServices, RegisterInstance, DeregisterInstance, GetInstance,\n"
    "ListInstances, DiscoverInstances, DiscoverInstancesRevision,\n"
    "GetInstancesHealthStatus, UpdateInstanceCustomHealthStatus.\n"
    "Signals: SIGTERM/SIGINT stop it (exit 0).\n";

int usage(const std::string& message) {
  std::cerr << "hawser registry: " << message << "\n\n" << kRegistryHelp;
  return 2;
}

std::optional<aws::Credentials> parseCredentials(const std::string& text) {
  auto colon = text.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return std::nullopt;
  aws::Credentials c;
  c.access_key = text.substr(0, colon);
  c.secret_key = text.substr(colon + 1);
  return c;
}

bool writeAddressFile(const std::string& path, const std::string& address) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return false;
    out << address << "\n";
    if (!out.flush()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace

int registryMain(const std::vector<std::string>& args) {
  RegistryServerOptions options;
  std::string address_file;
  bool have_listen = false;
  if (const char* env = std::getenv("HAWSER_REGISTRY_CREDENTIALS"); env && *env) {
    options.api.credentials = parseCredentials(env);
    if (!options.api.credentials) return usage("$HAWSER_REGISTRY_CREDENTIALS must be ACCESS_KEY:SECRET");
  }
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << kRegistryHelp;
      return 0;
    }
    if (a == "--log-requests") {
      options.log_requests = true;
      continue;
    }
    if (i + 1 >= args.size()) return usage("unknown or incomplete option '" + a + "'");
    const std::string& v = args[++i];
    if (a == "--listen") {
      options.listen = v;
      have_listen = true;
    } else if (a == "--data") {
      options.data_file = v;
    } else if (a == "--address-file") {
      address_file = v;
    } else if (a == "--credentials") {
      options.api.credentials = parseCredentials(v);
      if (!options.api.credentials) return usage("--credentials must be ACCESS_KEY:SECRET");
    } else if (a == "--region") {
      options.api.region = v;
    } else if (a == "--account") {
      if (v.size() != 12 || v.find_first_not_of("0123456789") != std::string::npos) {
        return usage("--account must be 12 digits");
      }
      options.api.account = v;
    } else if (a == "--rate-limit") {
      char* end = nullptr;
      double rps = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || rps <= 0) return usage("--rate-limit must be RPS[:BURST] with RPS > 0");
      if (*end == ':') {
        char* bend = nullptr;
        long burst = std::strtol(end + 1, &bend, 10);
        if (*bend != '\0' || burst < 1) return usage("--rate-limit burst must be a positive integer");
        options.api.rate_limit_burst = static_cast<std::uint32_t>(burst);
      } else if (*end != '\0') {
        return usage("--rate-limit must be RPS[:BURST]");
      }
      options.api.rate_limit_rps = rps;
    } else {
      return usage("unknown option '" + a + "'");
    }
  }
  if (!have_listen) return usage("--listen is required");
  try {
    parseListen(options.listen);
  } catch (const std::invalid_argument& e) {
    return usage(e.what());
  }

  asio::io_context io;
  std::unique_ptr<RegistryServer> server;
  try {
    server = std::make_unique<RegistryServer>(io.get_executor(), options);
  } catch (const std::exception& e) {
    std::cerr << "hawser registry: --data " << e.what() << "\n";
    return 2;
  }
  std::string address;
  try {
    address = server->start();
  } catch (const std::exception& e) {
    std::cerr << "hawser registry: cannot listen on " << options.listen << ": " << e.what() << "\n";
    return 1;
  }
  if (!address_file.empty() && !writeAddressFile(address_file, address)) {
    std::cerr << "hawser registry: cannot write --address-file " << address_file << "\n";
    return 1;
  }
  // How to point clients at it. The AWS CLI puts the model's "data-" host prefix
  // in front of the endpoint's host for DiscoverInstances*, even with
  // --endpoint-url, and Debian 12's CLI (2.9) has no switch to turn that off; with
  // a user name in the URL the prefix lands on the user name ("data-hawser@"),
  // which the CLI never sends, so every operation reaches this address.
  const std::string client = clientAddress(address);
  logLine("info", "registry listening",
          {{"address", address},
           {"data", options.data_file},
           {"sigv4", options.api.credentials.has_value()},
           {"note", "development registry, not for production"},
           {"endpoint", "http://" + client},
           {"sidecar", "discovery.cloudmap.endpoint: http://" + client},
           {"aws_cli", "aws servicediscovery list-namespaces --endpoint-url http://hawser@" + client},
           {"aws_sdk", "endpoint http://" + client +
                           " with disableHostPrefix: true (JavaScript v3) or "
                           "inject_host_prefix=False (botocore); see docs/discovery.md"}});

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    logLine("info", "registry stopping", {{"signal", signo}});
    server->stop();
    io.stop();
  });
  io.run();
  return 0;
}

}  // namespace hawser::discovery::registry
