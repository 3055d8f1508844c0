// Bytes from an upstream, through the HTTP/1.1 response codec: the head
// parser, responseFraming (for a GET or a HEAD, chosen by the first byte),
// the body decoder, as many 1xx heads as the input holds (bounded as the
// request path bounds them).
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dataplane/http/body_decoder.h"
#include "dataplane/http/framing.h"

using namespace hawser;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace http = boost::beast::http;
  if (size < 1) return 0;
  const bool head_request = data[0] & 1;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  for (int informational = 0; informational <= 16 && !in.empty(); ++informational) {
    http::response_parser<http::empty_body> p;
    p.header_limit(64 * 1024);
    p.skip(true);
    boost::system::error_code ec;
    const size_t used = p.put(boost::asio::buffer(in.data(), in.size()), ec);
    if (ec || !p.is_header_done()) return 0;
    in.remove_prefix(used);
    const unsigned status = p.get().result_int();
    auto framing = http1::responseFraming(p.get().base(), status, head_request);
    if (!framing.ok()) return 0;  // 502
    if (status < 200 && status != 101) continue;
    http1::BodyLimits limits;
    http1::BodyDecoder body(framing.framing, limits);
    while (!body.done()) {
      auto st = body.step(in);
      if (st.consumed > in.size()) __builtin_trap();
      in.remove_prefix(st.consumed);
      if (st.status == http1::BodyDecoder::Status::error) return 0;
      if (st.status == http1::BodyDecoder::Status::more && in.empty()) {
        body.finish();
        return 0;
      }
    }
    return 0;
  }
  return 0;
}
