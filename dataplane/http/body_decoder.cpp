#include "dataplane/http/body_decoder.h"

#include <algorithm>

namespace hawser::http1 {

namespace {
int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
// Bytes allowed inside a chunk extension or a trailer line: visible
// characters, space, tab and obs-text; never CR, LF, NUL or other controls.
bool lineByte(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}
}  // namespace

void BodyDecoder::reset(const Framing& f, const BodyLimits& limits) {
  limits_ = limits;
  remaining_ = 0;
  body_bytes_ = 0;
  line_bytes_ = 0;
  trailer_bytes_ = 0;
  digits_ = 0;
  last_chunk_ = false;
  too_large_ = false;
  error_ = {};
  switch (f.kind) {
    case BodyKind::none: state_ = State::done; break;
    case BodyKind::length:
      state_ = f.length ? State::length : State::done;
      remaining_ = f.length;
      if (limits_.max_body_bytes && f.length > limits_.max_body_bytes) {
        too_large_ = true;
        state_ = State::error;
        error_ = "body-too-large";
      }
      break;
    case BodyKind::chunked: state_ = State::size; break;
    case BodyKind::until_close: state_ = State::until_close; break;
  }
}

BodyDecoder::Step BodyDecoder::fail(std::string_view why, size_t consumed) {
  state_ = State::error;
  error_ = why;
  return Step{Status::error, consumed, {}};
}

bool BodyDecoder::countBody(uint64_t n) {
  body_bytes_ += n;
  if (limits_.max_body_bytes && body_bytes_ > limits_.max_body_bytes) {
    too_large_ = true;
    return false;
  }
  return true;
}

BodyDecoder::Step BodyDecoder::finish() {
  if (state_ == State::until_close) {
    state_ = State::done;
    return Step{Status::done, 0, {}};
  }
  if (state_ == State::done) return Step{Status::done, 0, {}};
  return fail("truncated-body", 0);
}

BodyDecoder::Step BodyDecoder::step(std::string_view in) {
  size_t i = 0;
  while (i < in.size() || state_ == State::done || state_ == State::error) {
    switch (state_) {
      case State::done: return Step{Status::done, i, {}};
      case State::error: return Step{Status::error, i, {}};
      case State::until_close: {
        const size_t n = in.size() - i;
        if (!countBody(n)) return fail("body-too-large", i);
        return Step{Status::more, in.size(), in.substr(i)};
      }
      case State::length:
      case State::chunk_data: {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, in.size() - i));
        if (state_ == State::chunk_data && !countBody(n)) return fail("body-too-large", i);
        if (state_ == State::length) body_bytes_ += n;
        remaining_ -= n;
        auto data = in.substr(i, n);
        i += n;
        if (remaining_ == 0) state_ = state_ == State::length ? State::done : State::data_cr;
        if (state_ == State::done) return Step{Status::done, i, data};
        return Step{i == in.size() ? Status::more : Status::data, i, data};
      }
      case State::size: {
        const char c = in[i];
        const int h = hexValue(c);
        if (h >= 0) {
          if (++digits_ > 15) return fail("chunk-size-too-large", i);  // under 2^60
          remaining_ = remaining_ * 16 + static_cast<uint64_t>(h);
          ++i;
        } else if (digits_ == 0) {
          return fail("bad-chunk-size", i);
        } else if (c == '\r') {
          ++i;
          state_ = State::size_lf;
        } else if (c == ';' || c == ' ' || c == '\t') {  // BWS before ';' as RFC 9112 §7.1.1
          state_ = State::ext;
        } else {
          return fail("bad-chunk-size", i);
        }
        if (++line_bytes_ > limits_.max_chunk_line) return fail("chunk-line-too-long", i);
        break;
      }
      case State::ext: {
        // Extensions are skipped (hawser gives none a meaning) but bounded
        // and checked for bytes that could end a line early downstream.
        const char c = in[i];
        if (c == '\r') {
          state_ = State::size_lf;
        } else if (!lineByte(c)) {
          return fail("bad-chunk-extension", i);
        }
        ++i;
        if (++line_bytes_ > limits_.max_chunk_line) return fail("chunk-line-too-long", i);
        break;
      }
      case State::size_lf: {
        if (in[i] != '\n') return fail("bad-chunk-line", i);
        ++i;
        line_bytes_ = 0;
        digits_ = 0;
        if (remaining_ == 0) {
          last_chunk_ = true;
          state_ = State::trailer;
        } else {
          state_ = State::chunk_data;
        }
        break;
      }
      case State::data_cr:
        if (in[i] != '\r') return fail("bad-chunk-data-end", i);
        ++i;
        state_ = State::data_lf;
        break;
      case State::data_lf:
        if (in[i] != '\n') return fail("bad-chunk-data-end", i);
        ++i;
        state_ = State::size;
        break;
      case State::trailer: {
        const char c = in[i];
        if (c == '\r') {
          state_ = State::trailer_lf;
        } else if (!lineByte(c)) {
          return fail("bad-trailer", i);
        } else if (line_bytes_ == 0 && (c == ' ' || c == '\t')) {
          return fail("bad-trailer", i);  // obs-fold
        }
        ++i;
        ++line_bytes_;
        if (++trailer_bytes_ > limits_.max_trailer_bytes) return fail("trailers-too-large", i);
        break;
      }
      case State::trailer_lf: {
        if (in[i] != '\n') return fail("bad-trailer", i);
        ++i;
        if (++trailer_bytes_ > limits_.max_trailer_bytes) return fail("trailers-too-large", i);
        if (line_bytes_ == 1) {  // just the CR: the empty line ending the section
          state_ = State::done;
          return Step{Status::done, i, {}};
        }
        line_bytes_ = 0;
        state_ = State::trailer;
        break;
      }
    }
  }
  return Step{Status::more, i, {}};
}

std::string_view chunkHeader(uint64_t n, char (&buf)[20]) {
  static constexpr char kHex[] = "0123456789abcdef";
  int i = 18;
  buf[18] = '\r';
  buf[19] = '\n';
  do {
    buf[--i] = kHex[n & 0xf];
    n >>= 4;
  } while (n);
  return std::string_view(buf + i, static_cast<size_t>(20 - i));
}

}  // namespace hawser::http1
