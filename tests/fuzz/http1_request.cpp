// Bytes from a client, through the HTTP/1.1 request codec as the request
// path runs it: the head parser (Beast, head only), checkRequestHead
// (limits, Host, target form, framing), then the body decoder over what
// follows, for each pipelined request in the input.
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dataplane/http/body_decoder.h"
#include "dataplane/http/request_head.h"

using namespace hawser;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace http = boost::beast::http;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  config::Limits limits;
  limits.max_header_bytes = 4096;
  limits.max_headers = 32;
  limits.max_request_body_bytes = 1 << 20;
  for (int n = 0; n < 8 && !in.empty(); ++n) {
    http::request_parser<http::empty_body> p;
    p.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
    p.skip(true);
    boost::system::error_code ec;
    const size_t used = p.put(boost::asio::buffer(in.data(), in.size()), ec);
    if (ec || !p.is_header_done()) return 0;
    in.remove_prefix(used);
    auto check = http1::checkRequestHead(p.get().base(), limits);
    if (check.reply) return 0;  // refused: the connection closes
    http1::BodyDecoder body(check.framing, http1::requestBodyLimits(limits));
    while (!body.done()) {
      auto st = body.step(in);
      if (st.consumed > in.size()) __builtin_trap();
      if (!st.data.empty() && (st.data.data() < in.data() || st.data.data() + st.data.size() > in.data() + in.size()))
        __builtin_trap();  // a view outside the input
      in.remove_prefix(st.consumed);
      if (st.status == http1::BodyDecoder::Status::error) return 0;
      if (st.status == http1::BodyDecoder::Status::more && in.empty()) return 0;
    }
  }
  return 0;
}
