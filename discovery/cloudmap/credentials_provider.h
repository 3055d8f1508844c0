// Where Cloud Map requests get their AWS credentials, in the order the AWS
// SDKs use: the environment, then ECS/EKS container credentials (fetched over
// HTTP and refreshed before they expire). Runs on the discovery executor; the
// pure parts (env parsing, response parsing, refresh time) are discovery/aws.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "discovery/aws/credentials.h"
#include "discovery/cloudmap/http_client.h"

namespace hawser::discovery::cloudmap {

class CredentialsProvider {
 public:
  virtual ~CredentialsProvider() = default;
  // The newest unexpired credentials; nullopt before the first fetch
  // succeeded or once they expired without a successful refresh.
  virtual std::optional<aws::Credentials> current() const = 0;
  virtual void start() {}
  virtual void stop() {}
  virtual std::string describe() const = 0;  // redacted, for logs
};

class StaticCredentialsProvider final : public CredentialsProvider {
 public:
  explicit StaticCredentialsProvider(aws::Credentials credentials) : credentials_(std::move(credentials)) {}
  std::optional<aws::Credentials> current() const override { return credentials_; }
  std::string describe() const override { return "static " + aws::describe(credentials_); }

 private:
  aws::Credentials credentials_;
};

// GET the container credentials endpoint (with its Authorization token),
// refresh at Credentials::refreshAt(), retry failures with backoff (1 s
// doubling to 60 s, never later than the refresh point of what we hold).
class ContainerCredentialsProvider final : public CredentialsProvider,
                                           public std::enable_shared_from_this<ContainerCredentialsProvider> {
 public:
  using Log = std::function<void(std::string_view msg, const std::string& detail)>;

  ContainerCredentialsProvider(boost::asio::any_io_executor executor, aws::ContainerCredentialsEndpoint endpoint,
                               HttpTransport transport = {}, Log log = {});
  std::optional<aws::Credentials> current() const override;
  void start() override;
  void stop() override;
  std::string describe() const override;

  std::uint64_t fetches() const { return fetches_.load(std::memory_order_relaxed); }
  std::uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }

 private:
  boost::asio::any_io_executor executor_;
  aws::ContainerCredentialsEndpoint endpoint_;
  HttpTransport transport_;
  Log log_;
  mutable std::mutex mutex_;  // current() may be read from another thread
  std::optional<aws::Credentials> credentials_;
  std::shared_ptr<std::atomic<bool>> stopped_ = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<void> timer_;  // the loop's steady_timer, cancelled by stop()
  std::atomic<std::uint64_t> fetches_{0};
  std::atomic<std::uint64_t> errors_{0};
};

// Environment credentials when set, else container credentials when
// configured, else nullptr (requests go unsigned: right for a local registry
// without --credentials). Throws std::runtime_error for a container
// credentials configuration that is present but unusable.
std::shared_ptr<CredentialsProvider> makeDefaultCredentialsProvider(boost::asio::any_io_executor executor,
                                                                    const aws::EnvLookup& env,
                                                                    const aws::FileReader& read_file,
                                                                    HttpTransport transport = {},
                                                                    ContainerCredentialsProvider::Log log = {});

// getenv / whole-file readers for production use.
aws::EnvLookup processEnvironment();
aws::FileReader fileReader();

}  // namespace hawser::discovery::cloudmap
