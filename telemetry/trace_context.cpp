#include "telemetry/trace_context.h"

#include <charconv>
#include <cmath>

namespace hawser::telemetry {

namespace {
constexpr char kHex[] = "0123456789abcdef";

int hexValue(char c) {  // lower-case only: every format here says "lower-hex"
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Exactly 2*N lower-hex digits into N bytes.
template <size_t N>
bool readHex(std::string_view s, std::array<uint8_t, N>& out, size_t offset = 0) {
  if (s.size() != 2 * (N - offset)) return false;
  for (size_t i = 0; i < N - offset; ++i) {
    int hi = hexValue(s[2 * i]), lo = hexValue(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[offset + i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

template <size_t N>
std::string toHex(const std::array<uint8_t, N>& b) {
  std::string s(2 * N, '0');
  for (size_t i = 0; i < N; ++i) {
    s[2 * i] = kHex[b[i] >> 4];
    s[2 * i + 1] = kHex[b[i] & 15];
  }
  return s;
}

template <size_t N>
bool nonZero(const std::array<uint8_t, N>& b) {
  for (auto v : b)
    if (v) return true;
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// B3 trace ids are 64 or 128 bits; a 64-bit one is the low half.
bool readB3TraceId(std::string_view s, TraceId& t) {
  t = {};
  if (s.size() == 16) return readHex(s, t.bytes, 8);
  return readHex(s, t.bytes);
}

std::optional<IncomingContext> checked(IncomingContext c) {
  if (!c.valid()) return std::nullopt;
  return c;
}
}  // namespace

bool TraceId::valid() const {
  return nonZero(bytes);
}
std::string TraceId::hex() const {
  return toHex(bytes);
}
bool SpanId::valid() const {
  return nonZero(bytes);
}
std::string SpanId::hex() const {
  return toHex(bytes);
}

std::optional<Propagator> parsePropagator(std::string_view n) {
  if (n == "w3c" || n == "tracecontext") return Propagator::w3c;
  if (n == "xray") return Propagator::xray;
  if (n == "b3") return Propagator::b3;
  if (n == "b3multi") return Propagator::b3multi;
  return std::nullopt;
}

const char* name(Propagator p) {
  switch (p) {
    case Propagator::w3c: return "w3c";
    case Propagator::xray: return "xray";
    case Propagator::b3: return "b3";
    case Propagator::b3multi: return "b3multi";
  }
  return "w3c";
}

std::optional<IncomingContext> parseTraceparent(std::string_view v) {
  // version "-" trace-id "-" parent-id "-" trace-flags
  if (v.size() < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return std::nullopt;
  std::array<uint8_t, 1> version{}, flags{};
  if (!readHex(v.substr(0, 2), version) || version[0] == 0xff) return std::nullopt;
  if (version[0] == 0 ? v.size() != 55 : (v.size() > 55 && v[55] != '-')) return std::nullopt;
  IncomingContext c;
  if (!readHex(v.substr(3, 32), c.trace.bytes) || !readHex(v.substr(36, 16), c.parent.bytes) ||
      !readHex(v.substr(53, 2), flags)) {
    return std::nullopt;
  }
  c.sampled = (flags[0] & 1) != 0;
  return checked(c);
}

std::string formatTraceparent(const TraceId& trace, const SpanId& span, bool sampled) {
  std::string s;
  s.reserve(55);
  s.append("00-").append(trace.hex()).append("-").append(span.hex()).append(sampled ? "-01" : "-00");
  return s;
}

bool validTracestate(std::string_view v) {
  if (v.size() > 512) return false;
  size_t members = 0;
  while (true) {
    auto comma = v.find(',');
    auto member = trim(v.substr(0, comma));
    if (!member.empty()) {
      if (++members > 32) return false;
      auto eq = member.find('=');
      if (eq == std::string_view::npos || eq == 0 || eq > 256 || member.size() - eq - 1 > 256 ||
          eq + 1 == member.size()) {
        return false;
      }
      auto key = member.substr(0, eq);
      auto at = key.find('@');
      for (size_t i = 0; i < key.size(); ++i) {
        char c = key[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '*' || c == '/' ||
                  (c == '@' && i == at && i > 0 && i + 1 < key.size());
        if (!ok) return false;
      }
      if (!((key[0] >= 'a' && key[0] <= 'z') || (key[0] >= '0' && key[0] <= '9'))) return false;
      for (char c : member.substr(eq + 1)) {
        if (c < 0x20 || c > 0x7e || c == ',' || c == '=') return false;
      }
    }
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
  return true;
}

std::optional<IncomingContext> parseXrayHeader(std::string_view v) {
  IncomingContext c;
  bool root = false, parent = false;
  while (!v.empty()) {
    auto semi = v.find(';');
    auto field = trim(v.substr(0, semi));
    v = semi == std::string_view::npos ? std::string_view{} : v.substr(semi + 1);
    auto eq = field.find('=');
    if (eq == std::string_view::npos) continue;
    auto key = trim(field.substr(0, eq)), value = trim(field.substr(eq + 1));
    if (key == "Root") {
      // 1-<8 hex epoch>-<24 hex>
      if (root || value.size() != 35 || value.substr(0, 2) != "1-" || value[10] != '-') return std::nullopt;
      std::array<uint8_t, 4> epoch{};
      std::array<uint8_t, 12> rest{};
      if (!readHex(value.substr(2, 8), epoch) || !readHex(value.substr(11, 24), rest)) return std::nullopt;
      std::copy(epoch.begin(), epoch.end(), c.trace.bytes.begin());
      std::copy(rest.begin(), rest.end(), c.trace.bytes.begin() + 4);
      root = true;
    } else if (key == "Parent") {
      if (parent || !readHex(value, c.parent.bytes)) return std::nullopt;
      parent = true;
    } else if (key == "Sampled") {
      if (value == "1")
        c.sampled = true;
      else if (value == "0")
        c.sampled = false;
      else if (value != "?")
        return std::nullopt;
    }
  }
  if (!root || !c.trace.valid()) return std::nullopt;
  if (!parent) return c;  // trace only (an ALB's header)
  return checked(c);
}

std::string formatXrayHeader(const TraceId& trace, const SpanId& span, bool sampled) {
  auto t = trace.hex();
  std::string s;
  s.reserve(81);
  s.append("Root=1-").append(t, 0, 8).append("-").append(t, 8, 24);
  s.append(";Parent=").append(span.hex()).append(sampled ? ";Sampled=1" : ";Sampled=0");
  return s;
}

std::optional<IncomingContext> parseB3Single(std::string_view v) {
  // trace-span[-sampled[-parent]]; a lone decision carries no context.
  auto dash = v.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  IncomingContext c;
  if (!readB3TraceId(v.substr(0, dash), c.trace)) return std::nullopt;
  v.remove_prefix(dash + 1);
  dash = v.find('-');
  if (!readHex(v.substr(0, dash), c.parent.bytes)) return std::nullopt;
  if (dash != std::string_view::npos) {
    v.remove_prefix(dash + 1);
    dash = v.find('-');
    auto state = v.substr(0, dash);
    if (state == "1" || state == "d")
      c.sampled = true;
    else if (state == "0")
      c.sampled = false;
    else
      return std::nullopt;
    if (dash != std::string_view::npos) {  // the caller's parent: well formed, else the header is
      SpanId grandparent;
      if (!readHex(v.substr(dash + 1), grandparent.bytes) || !grandparent.valid()) return std::nullopt;
    }
  }
  return checked(c);
}

std::string formatB3Single(const TraceId& trace, const SpanId& span, bool sampled) {
  return trace.hex() + "-" + span.hex() + (sampled ? "-1" : "-0");
}

std::optional<IncomingContext> parseB3Multi(std::string_view trace_id, std::string_view span_id,
                                            std::string_view sampled, std::string_view flags) {
  IncomingContext c;
  if (!readB3TraceId(trace_id, c.trace) || !readHex(span_id, c.parent.bytes)) return std::nullopt;
  if (flags == "1") {
    c.sampled = true;  // debug
  } else if (sampled == "1" || sampled == "true") {
    c.sampled = true;
  } else if (sampled == "0" || sampled == "false") {
    c.sampled = false;
  } else if (!sampled.empty()) {
    return std::nullopt;
  }
  return checked(c);
}

bool Sampler::sample(const std::optional<IncomingContext>& incoming, const TraceId& trace) const {
  if (parent_based && incoming && incoming->sampled) return *incoming->sampled;
  switch (root) {
    case Root::always_on: return true;
    case Root::always_off: return false;
    case Root::ratio: break;
  }
  if (ratio >= 1.0) return true;
  if (!(ratio > 0.0)) return false;
  // The id's low 64 bits against ratio * 2^64: the same trace gets the same
  // decision in every sidecar that samples at the same ratio.
  uint64_t low = 0;
  for (int i = 8; i < 16; ++i) low = low << 8 | trace.bytes[i];
  return low < static_cast<uint64_t>(std::ldexp(ratio, 64));
}

std::optional<Sampler> samplerFromEnvironment(std::string_view name, std::string_view arg) {
  Sampler s;
  std::string_view root = name;
  if (name.substr(0, 11) == "parentbased") {
    root = name.substr(name.size() > 11 && name[11] == '_' ? 12 : 11);
  } else {
    s.parent_based = false;
  }
  if (root == "always_on") {
    s.root = Sampler::Root::always_on;
  } else if (root == "always_off") {
    s.root = Sampler::Root::always_off;
  } else if (root == "traceidratio") {
    s.root = Sampler::Root::ratio;
    double r = 1.0;
    if (!arg.empty()) {
      auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), r);
      if (ec != std::errc() || end != arg.data() + arg.size() || !(r >= 0.0 && r <= 1.0)) r = 1.0;
    }
    s.ratio = r;
  } else {
    return std::nullopt;
  }
  return s;
}

}  // namespace hawser::telemetry
