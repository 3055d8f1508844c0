#include "dataplane/http/body_decoder.h"

#include <gtest/gtest.h>

#include <string>

namespace hawser::http1 {
namespace {

struct Decoded {
  std::string body;
  BodyDecoder::Status status = BodyDecoder::Status::more;
  size_t consumed = 0;
  std::string_view error;
};

// Feeds `in` in pieces of `piece` bytes, as reads would deliver it.
Decoded decode(const Framing& f, std::string_view in, size_t piece = 1 << 20, BodyLimits limits = {}) {
  BodyDecoder d(f, limits);
  Decoded out;
  size_t pos = 0;
  std::string pending;
  while (true) {
    if (d.done()) {
      out.status = BodyDecoder::Status::done;
      break;
    }
    if (pos >= in.size() && pending.empty()) break;
    const size_t n = std::min(piece, in.size() - pos);
    pending.append(in.substr(pos, n));
    pos += n;
    std::string_view view = pending;
    size_t used = 0;
    for (;;) {
      auto st = d.step(view.substr(used));
      used += st.consumed;
      out.body.append(st.data);
      out.status = st.status;
      if (st.status != BodyDecoder::Status::data) break;
    }
    out.consumed += used;
    pending.erase(0, used);
    if (out.status == BodyDecoder::Status::error) {
      out.error = d.error();
      break;
    }
    if (out.status == BodyDecoder::Status::done) break;
  }
  return out;
}

const Framing kChunked{BodyKind::chunked};

TEST(BodyDecoderTest, LengthStopsAtItsEnd) {
  for (size_t piece : {1, 3, 100}) {
    auto d = decode(Framing{BodyKind::length, 5}, "helloGET / HTTP/1.1", piece);
    EXPECT_EQ(d.status, BodyDecoder::Status::done);
    EXPECT_EQ(d.body, "hello");
    EXPECT_EQ(d.consumed, 5u);
  }
}

TEST(BodyDecoderTest, ChunkedInAnyPieces) {
  const std::string in = "5\r\nhello\r\n6;name=value\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT";
  for (size_t piece : {1, 2, 7, 1000}) {
    auto d = decode(kChunked, in, piece);
    EXPECT_EQ(d.status, BodyDecoder::Status::done) << piece;
    EXPECT_EQ(d.body, "hello world");
    EXPECT_EQ(d.consumed, in.size() - 4);
  }
}

TEST(BodyDecoderTest, HexSizesBothCases) {
  auto d = decode(kChunked, "A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n");
  EXPECT_EQ(d.status, BodyDecoder::Status::done);
  EXPECT_EQ(d.body.size(), 20u);
}

TEST(BodyDecoderTest, MalformedChunkingIsRefused) {
  for (std::string in : {"5\nhello\r\n0\r\n\r\n", "5\r\nhello\n0\r\n\r\n", "5\r\nhelloX\r\n", "x\r\n", ";ext\r\n",
                         "-5\r\n", "5\r\r\n", "0\r\nbad\nline\r\n\r\n", "0\r\n folded: x\r\n\r\n",
                         "5;a\x01b\r\nhello\r\n", "1234567890123456\r\n", "0\r\nX: a\rb\r\n\r\n"}) {
    auto d = decode(kChunked, in);
    EXPECT_EQ(d.status, BodyDecoder::Status::error) << in;
  }
}

TEST(BodyDecoderTest, ChunkLineIsBounded) {
  BodyLimits limits;
  limits.max_chunk_line = 64;
  std::string in = "5;ext=" + std::string(1000, 'a');
  auto d = decode(kChunked, in, 16, limits);
  EXPECT_EQ(d.status, BodyDecoder::Status::error);
  EXPECT_EQ(d.error, "chunk-line-too-long");
  EXPECT_LE(d.consumed, 80u);  // refused as soon as the line passes the limit
}

TEST(BodyDecoderTest, TrailersAreBounded) {
  BodyLimits limits;
  limits.max_trailer_bytes = 100;
  std::string in = "0\r\n";
  for (int i = 0; i < 50; ++i) in += "X-T: 0123456789\r\n";
  auto d = decode(kChunked, in, 7, limits);
  EXPECT_EQ(d.status, BodyDecoder::Status::error);
  EXPECT_EQ(d.error, "trailers-too-large");
}

TEST(BodyDecoderTest, BodyLimit) {
  BodyLimits limits;
  limits.max_body_bytes = 4;
  EXPECT_EQ(decode(kChunked, "5\r\nhello\r\n0\r\n\r\n", 100, limits).error, "body-too-large");
  BodyDecoder sized(Framing{BodyKind::length, 5}, limits);
  EXPECT_TRUE(sized.tooLarge());
  EXPECT_EQ(decode(kChunked, "4\r\nhell\r\n0\r\n\r\n", 100, limits).status, BodyDecoder::Status::done);
}

TEST(BodyDecoderTest, UntilCloseEndsAtFinish) {
  BodyDecoder d(Framing{BodyKind::until_close}, {});
  auto st = d.step("abc");
  EXPECT_EQ(st.data, "abc");
  EXPECT_EQ(d.finish().status, BodyDecoder::Status::done);
  BodyDecoder sized(Framing{BodyKind::length, 5}, {});
  sized.step("abc");
  EXPECT_EQ(sized.finish().status, BodyDecoder::Status::error);
  BodyDecoder chunked(kChunked, {});
  chunked.step("5\r\nab");
  EXPECT_EQ(chunked.finish().status, BodyDecoder::Status::error);
}

TEST(BodyDecoderTest, NoBodyIsDoneAtOnce) {
  BodyDecoder d(Framing{BodyKind::none}, {});
  EXPECT_TRUE(d.done());
  EXPECT_EQ(d.step("GET /").consumed, 0u);
}

TEST(BodyDecoderTest, ChunkHeader) {
  char buf[20];
  EXPECT_EQ(chunkHeader(0x1a2b, buf), "1a2b\r\n");
  EXPECT_EQ(chunkHeader(0, buf), "0\r\n");
  EXPECT_EQ(chunkHeader(UINT64_MAX, buf), "ffffffffffffffff\r\n");
}

}  // namespace
}  // namespace hawser::http1
