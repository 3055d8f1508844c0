#include "dataplane/http_headers.h"

#include <gtest/gtest.h>

#include <boost/beast/http.hpp>

#include <regex>
#include <set>

namespace hawser {
namespace {
namespace http = boost::beast::http;

TEST(RequestId, IsAVersion4Uuid) {
  static const std::regex uuid("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = newRequestId();
    EXPECT_TRUE(std::regex_match(id, uuid)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

// serializeHead writes what Beast's serializer writes for a message that is not chunked.
template <class Message>
std::string beastHead(Message m) {
  std::ostringstream out;
  out << m;
  return out.str();
}

TEST(SerializeHead, RequestMatchesBeast) {
  http::request<http::string_body> req{http::verb::post, "/a/b?c=d", 11};
  req.set(http::field::host, "svc:8080");
  req.insert("x-repeated", "1");
  req.insert("x-repeated", "2");
  req.set(http::field::content_length, "0");
  std::string head;
  serializeHead(req.base(), head);
  EXPECT_EQ(head, beastHead(req));
  EXPECT_EQ(head.substr(0, 26), "POST /a/b?c=d HTTP/1.1\r\nHo");
}

TEST(SerializeHead, ResponseMatchesBeastWithOwnAndStandardReason) {
  http::response<http::string_body> res{http::status::not_found, 11};
  res.set(http::field::content_length, "0");
  res.set("x-a", "b");
  std::string head;
  serializeHead(res.base(), head);
  EXPECT_EQ(head, beastHead(res));
  EXPECT_EQ(head.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u);
  res.reason("Nope");
  res.version(10);
  serializeHead(res.base(), head);
  EXPECT_EQ(head, beastHead(res));
  EXPECT_EQ(head.rfind("HTTP/1.0 404 Nope\r\n", 0), 0u);
}

TEST(SerializeHead, UnknownStatusCode) {
  http::response<http::string_body> res;
  res.result(599);
  res.set(http::field::content_length, "0");
  std::string head;
  serializeHead(res.base(), head);
  EXPECT_EQ(head, beastHead(res));
}

}  // namespace
}  // namespace hawser
