// The ECS / EKS container-credentials response parser, then what the
// provider does with the result: the refresh and expiry decisions and the
// redacted description that goes into logs (which must never hold the secret).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "discovery/aws/credentials.h"

namespace aws = hawser::discovery::aws;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  const aws::Clock::time_point now{std::chrono::seconds(1700000000)};
  auto parsed = aws::parseContainerCredentials(body, now);
  if (auto* c = std::get_if<aws::Credentials>(&parsed)) {
    (void)c->refreshAt();
    (void)c->needsRefresh(now);
    (void)c->expired(now);
    // The description depends on the secret and the token only through
    // whether they are present.
    aws::Credentials other = *c;
    other.secret_key = "x";
    other.session_token = c->session_token.empty() ? "" : "x";
    if (aws::describe(*c) != aws::describe(other)) __builtin_trap();
    if (c->expiration) (void)aws::formatIso8601(*c->expiration);
  } else {
    (void)aws::toString(std::get<aws::CredentialsError>(parsed).kind);
  }
  return 0;
}
