#include "dataplane/post_transport.h"

// GCC 12 misreads a coroutine frame's sized delete as mismatched.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace hawser {

telemetry::HttpTransport postTransport(discovery::cloudmap::HttpTransport http,
                                       std::function<void(discovery::cloudmap::HttpRequest&)> prepare) {
  return [http = std::move(http),
          prepare = std::move(prepare)](telemetry::HttpPost post) -> boost::asio::awaitable<telemetry::HttpReply> {
    discovery::cloudmap::HttpRequest rq;
    rq.method = "POST";
    rq.url = std::move(post.url);
    for (auto& [k, v] : post.headers) rq.headers.emplace_back(std::move(k), std::move(v));
    rq.body = std::move(post.body);
    rq.timeout = post.timeout;
    if (prepare) prepare(rq);
    auto r = co_await http(std::move(rq));
    co_return telemetry::HttpReply{r.error, r.status, r.header("retry-after")};
  };
}

}  // namespace hawser
