// A spool segment as the forwarder reads it back after a crash
// (telemetry/capture/segment.h): entries up to the first torn or corrupt
// one. The entries kept, written again, must be exactly the prefix read.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "telemetry/capture/segment.h"

namespace t = hawser::telemetry;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto seg = t::parseSegment(in);
  if (seg.valid_bytes > size || seg.file_bytes != size) __builtin_trap();
  std::string again;
  for (const auto& r : seg.records) again += t::encodeSegmentEntry(r);
  if (again != in.substr(0, seg.valid_bytes)) __builtin_trap();
  return 0;
}
