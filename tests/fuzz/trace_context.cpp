// The trace-context headers a request may carry (telemetry/trace_context.h):
// W3C traceparent and tracestate, X-Ray, B3 single and multi. The first
// byte picks the parser. Whatever a parser accepts must be valid, and must
// survive being written back in the same format and read again unchanged.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "telemetry/trace_context.h"

namespace t = hawser::telemetry;

namespace {
void check(const std::optional<t::IncomingContext>& c, int format) {
  if (!c) return;
  if (!c->trace.valid()) __builtin_trap();
  if (c->traceOnly()) {  // X-Ray's Root without Parent, and only X-Ray's
    if (format != 1) __builtin_trap();
    return;
  }
  if (!c->parent.valid()) __builtin_trap();
  const bool sampled = c->sampled.value_or(false);
  std::optional<t::IncomingContext> again;
  switch (format) {
    case 0: again = t::parseTraceparent(t::formatTraceparent(c->trace, c->parent, sampled)); break;
    case 1: again = t::parseXrayHeader(t::formatXrayHeader(c->trace, c->parent, sampled)); break;
    default: again = t::parseB3Single(t::formatB3Single(c->trace, c->parent, sampled)); break;
  }
  if (!again || !(again->trace == c->trace) || !(again->parent == c->parent) || again->sampled != sampled) {
    __builtin_trap();
  }
  t::Sampler s;
  s.root = t::Sampler::Root::ratio;
  s.ratio = 0.5;
  (void)s.sample(c, c->trace);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0: check(t::parseTraceparent(in), 0); break;
    case 1: (void)t::validTracestate(in); break;
    case 2: check(t::parseXrayHeader(in), 1); break;
    case 3: check(t::parseB3Single(in), 2); break;
    case 4: {
      // Four header values separated by NUL bytes.
      std::string_view parts[4];
      for (auto& p : parts) {
        auto nul = in.find('\0');
        p = in.substr(0, nul);
        in = nul == std::string_view::npos ? std::string_view{} : in.substr(nul + 1);
      }
      check(t::parseB3Multi(parts[0], parts[1], parts[2], parts[3]), 2);
      break;
    }
  }
  (void)t::samplerFromEnvironment(in.substr(0, in.find(':')), in.substr(std::min(in.size(), in.find(':') + 1)));
  return 0;
}
