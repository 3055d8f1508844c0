#include "dataplane/http/framing.h"

#include <gtest/gtest.h>

#include <boost/beast/http/field.hpp>

namespace hawser::http1 {
namespace {
namespace http = boost::beast::http;

http::fields make(std::initializer_list<std::pair<const char*, const char*>> lines) {
  http::fields f;
  for (auto& [n, v] : lines) f.insert(n, v);
  return f;
}

TEST(FramingTest, ChunkedAlone) {
  auto d = requestFraming(make({{"Transfer-Encoding", "chunked"}}), 11);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.framing.kind, BodyKind::chunked);
  EXPECT_TRUE(requestFraming(make({{"Transfer-Encoding", " Chunked\t"}}), 11).ok());
}

TEST(FramingTest, TransferEncodingThatIsNotExactlyChunkedIsRefused) {
  for (auto v : {"identity", "xchunked", "chunked, identity", "gzip, chunked", "chunked, chunked", "chunked,",
                 ",chunked", "identity chunked", ""}) {
    EXPECT_FALSE(requestFraming(make({{"Transfer-Encoding", v}}), 11).ok()) << v;
  }
  // Two lines read as one list: identity then chunked is not "chunked".
  EXPECT_FALSE(requestFraming(make({{"Transfer-Encoding", "identity"}, {"Transfer-Encoding", "chunked"}}), 11).ok());
  EXPECT_FALSE(requestFraming(make({{"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}}), 11).ok());
}

TEST(FramingTest, ContentLengthBesideTransferEncodingIsRefused) {
  auto d = requestFraming(make({{"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}}), 11);
  EXPECT_FALSE(d.ok());
  EXPECT_EQ(d.error, "content-length-with-transfer-encoding");
  EXPECT_FALSE(responseFraming(make({{"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}}), 200, false).ok());
}

TEST(FramingTest, TransferEncodingInHttp10IsRefused) {
  EXPECT_FALSE(requestFraming(make({{"Transfer-Encoding", "chunked"}}), 10).ok());
}

TEST(FramingTest, ContentLengthValues) {
  uint64_t v = 0;
  EXPECT_TRUE(parseContentLength("0", v));
  EXPECT_EQ(v, 0u);
  EXPECT_TRUE(parseContentLength("5, 5", v));
  EXPECT_EQ(v, 5u);
  EXPECT_TRUE(parseContentLength("123456789012345678", v));
  for (auto bad : {"", "+5", "-5", "0x5", "5 5", "5,6", "5,", "1234567890123456789", " ", "5a", "٣"}) {
    EXPECT_FALSE(parseContentLength(bad, v)) << bad;
  }
  EXPECT_FALSE(requestFraming(make({{"Content-Length", "5"}, {"Content-Length", "6"}}), 11).ok());
  auto same = requestFraming(make({{"Content-Length", "5"}, {"Content-Length", "5"}}), 11);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same.framing.kind, BodyKind::length);
  EXPECT_EQ(same.framing.length, 5u);
}

TEST(FramingTest, RequestWithoutFramingHasNoBody) {
  auto d = requestFraming(make({{"Host", "x"}}), 11);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.framing.kind, BodyKind::none);
  auto zero = requestFraming(make({{"Content-Length", "0"}}), 11);
  EXPECT_EQ(zero.framing.kind, BodyKind::none);
  EXPECT_TRUE(zero.framing.declared_length);
}

TEST(FramingTest, ResponseWithoutFramingRunsUntilClose) {
  auto d = responseFraming(make({}), 200, false);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.framing.kind, BodyKind::until_close);
}

TEST(FramingTest, BodilessResponses) {
  for (unsigned status : {100u, 103u, 204u, 304u}) {
    auto d = responseFraming(make({{"Content-Length", "10"}}), status, false);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d.framing.kind, BodyKind::none) << status;
  }
  // HEAD and 304 keep the length they describe; 204 does not.
  EXPECT_TRUE(responseFraming(make({{"Content-Length", "10"}}), 200, true).framing.declared_length);
  EXPECT_TRUE(responseFraming(make({{"Content-Length", "10"}}), 304, false).framing.declared_length);
  EXPECT_FALSE(responseFraming(make({{"Content-Length", "10"}}), 204, false).framing.declared_length);
  // Malformed framing lines are refused even where no body follows.
  EXPECT_FALSE(responseFraming(make({{"Transfer-Encoding", "identity"}}), 204, false).ok());
}

TEST(FramingTest, OneFramingLineOut) {
  std::string out;
  appendFramingHeader(Framing{BodyKind::chunked}, out);
  EXPECT_EQ(out, "Transfer-Encoding: chunked\r\n");
  out.clear();
  appendFramingHeader(Framing{BodyKind::length, 1234}, out);
  EXPECT_EQ(out, "Content-Length: 1234\r\n");
  out.clear();
  appendFramingHeader(Framing{BodyKind::until_close}, out);
  EXPECT_EQ(out, "");
  out.clear();
  appendFramingHeader(Framing{BodyKind::none, 0, true, 0}, out);
  EXPECT_EQ(out, "Content-Length: 0\r\n");
}

TEST(FramingTest, StripRemovesEveryLine) {
  auto f =
      make({{"Transfer-Encoding", "identity"}, {"content-length", "3"}, {"TRANSFER-ENCODING", "chunked"}, {"X", "y"}});
  stripFraming(f);
  EXPECT_EQ(std::distance(f.begin(), f.end()), 1);
}

}  // namespace
}  // namespace hawser::http1
