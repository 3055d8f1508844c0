#include "discovery/cloudmap/credentials_provider.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace hawser::discovery::cloudmap {
namespace asio = boost::asio;

namespace {
constexpr std::chrono::seconds kMinRetry{1};
constexpr std::chrono::seconds kMaxRetry{60};
}  // namespace

ContainerCredentialsProvider::ContainerCredentialsProvider(asio::any_io_executor executor,
                                                           aws::ContainerCredentialsEndpoint endpoint,
                                                           HttpTransport transport, Log log)
    : executor_(executor),
      endpoint_(std::move(endpoint)),
      transport_(transport ? std::move(transport) : makeHttpTransport(executor)),
      log_(std::move(log)) {}

std::optional<aws::Credentials> ContainerCredentialsProvider::current() const {
  std::lock_guard lock(mutex_);
  if (!credentials_ || credentials_->expired(aws::Clock::now())) return std::nullopt;
  return credentials_;
}

std::string ContainerCredentialsProvider::describe() const {
  return "container credentials from " + aws::describe(endpoint_);
}

void ContainerCredentialsProvider::start() {
  auto self = shared_from_this();
  auto timer = std::make_shared<asio::steady_timer>(executor_);
  timer_ = timer;
  asio::co_spawn(
      executor_,
      [self, timer]() -> asio::awaitable<void> {
        std::chrono::steady_clock::duration retry = kMinRetry;
        while (!*self->stopped_) {
          HttpRequest request;
          request.method = "GET";
          request.url = self->endpoint_.url;
          request.headers.emplace_back("Accept", "application/json");
          if (self->endpoint_.authorization)
            request.headers.emplace_back("Authorization", *self->endpoint_.authorization);
          auto response = co_await self->transport_(request);
          if (*self->stopped_) co_return;
          self->fetches_.fetch_add(1, std::memory_order_relaxed);
          std::string problem;
          std::chrono::steady_clock::duration wait = retry;
          if (!response.error.empty()) {
            problem = response.error;
          } else if (response.status != 200) {
            problem = "HTTP " + std::to_string(response.status);
          } else {
            auto now = aws::Clock::now();
            auto parsed = aws::parseContainerCredentials(response.body, now);
            if (auto* err = std::get_if<aws::CredentialsError>(&parsed)) {
              problem = std::string(aws::toString(err->kind)) + ": " + err->detail;
            } else {
              auto creds = std::get<aws::Credentials>(std::move(parsed));
              auto refresh_at = creds.refreshAt();
              {
                std::lock_guard lock(self->mutex_);
                self->credentials_ = std::move(creds);
              }
              retry = kMinRetry;
              wait =
                  refresh_at == aws::Clock::time_point::max()
                      ? std::chrono::steady_clock::duration(std::chrono::hours(24 * 365))
                      : std::max<std::chrono::steady_clock::duration>(refresh_at - now, std::chrono::milliseconds(100));
              if (self->log_) self->log_("container credentials refreshed", aws::describe(*self->credentials_));
            }
          }
          if (!problem.empty()) {
            self->errors_.fetch_add(1, std::memory_order_relaxed);
            if (self->log_) self->log_("container credentials fetch failed", problem);
            retry = std::min<std::chrono::steady_clock::duration>(retry * 2, kMaxRetry);
            // Never sleep past the refresh point of credentials still held.
            std::lock_guard lock(self->mutex_);
            if (self->credentials_ && self->credentials_->expiration) {
              auto left = *self->credentials_->expiration - aws::Clock::now();
              if (left > std::chrono::seconds(0))
                wait = std::min<std::chrono::steady_clock::duration>(wait, left / 2 + std::chrono::milliseconds(100));
            }
          }
          timer->expires_after(wait);
          co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
        }
      },
      asio::detached);
}

void ContainerCredentialsProvider::stop() {
  *stopped_ = true;
  if (auto timer = std::static_pointer_cast<asio::steady_timer>(timer_)) {
    asio::post(executor_, [timer] { timer->cancel(); });
  }
}

std::shared_ptr<CredentialsProvider> makeDefaultCredentialsProvider(asio::any_io_executor executor,
                                                                    const aws::EnvLookup& env,
                                                                    const aws::FileReader& read_file,
                                                                    HttpTransport transport,
                                                                    ContainerCredentialsProvider::Log log) {
  if (auto creds = aws::credentialsFromEnvironment(env)) return std::make_shared<StaticCredentialsProvider>(*creds);
  auto container = aws::containerCredentialsEndpoint(env, read_file);
  if (auto* err = std::get_if<aws::CredentialsError>(&container)) {
    throw std::runtime_error("container credentials: " + std::string(aws::toString(err->kind)) + ": " + err->detail);
  }
  if (auto* endpoint = std::get_if<aws::ContainerCredentialsEndpoint>(&container)) {
    return std::make_shared<ContainerCredentialsProvider>(executor, *endpoint, std::move(transport), std::move(log));
  }
  return nullptr;
}

aws::EnvLookup processEnvironment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

aws::FileReader fileReader() {
  return [](std::string_view path) -> std::optional<std::string> {
    std::ifstream in{std::string(path), std::ios::binary};
    if (!in) return std::nullopt;
    std::stringstream buf;
    buf << in.rdbuf();
    return buf.str();
  };
}

}  // namespace hawser::discovery::cloudmap
