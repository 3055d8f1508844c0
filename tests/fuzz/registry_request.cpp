// `hawser registry`'s request handling (RegistryApi::handle, no sockets) over
// a sequence of requests, so operations that need state (a namespace, a
// service, instances) are reached. Input: requests separated by a line
// "=====", each one HTTP-like:
//
//   POST /                                          request line (method, target)
//   X-Amz-Target: Route53AutoNaming_v20170314.CreateHttpNamespace
//   Content-Type: application/x-amz-json-1.1         header lines, then a blank line
//
//   {"Name": "ns.local"}                            body (the rest)
//
// An input whose first line is "#signed" is served by a registry that
// requires SigV4 by AKIDEXAMPLE and has a rate limit, so the Authorization
// parsing and verification run on fuzzed headers. Time and resource ids are
// fixed, so every input replays the same way.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "discovery/registry/registry_api.h"

namespace registry = hawser::discovery::registry;

namespace {

constexpr std::string_view kSeparator = "\n=====\n";
constexpr std::size_t kMaxRequests = 64;

std::string_view nextLine(std::string_view& rest) {
  auto nl = rest.find('\n');
  std::string_view line = rest.substr(0, nl);
  rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

registry::RegistryRequest parseRequest(std::string_view text) {
  registry::RegistryRequest r;
  std::string_view line = nextLine(text);
  auto space = line.find(' ');
  r.method = std::string(line.substr(0, space));
  r.target = space == std::string_view::npos ? "/" : std::string(line.substr(space + 1));
  while (!text.empty()) {
    line = nextLine(text);
    if (line.empty()) break;
    auto colon = line.find(':');
    std::string_view name = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    r.headers.emplace_back(name, value);
  }
  r.body = std::string(text);
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  registry::RegistryOptions options;
  options.seed = 42;
  if (input.starts_with("#signed\n")) {
    input.remove_prefix(8);
    hawser::discovery::aws::Credentials creds;
    creds.access_key = "AKIDEXAMPLE";
    creds.secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    options.credentials = creds;
    options.rate_limit_rps = 100;
    options.rate_limit_burst = 20;
  }
  registry::RegistryApi api(options);
  const std::chrono::system_clock::time_point now{std::chrono::seconds(1700000000)};
  for (std::size_t n = 0; n < kMaxRequests && !input.empty(); ++n) {
    auto sep = input.find(kSeparator);
    auto request = parseRequest(input.substr(0, sep));
    input = sep == std::string_view::npos ? std::string_view() : input.substr(sep + kSeparator.size());
    auto response = api.handle(request, now);
    (void)registry::statusForErrorType(response.error_type);
  }
  return 0;
}
