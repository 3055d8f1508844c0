// The ECS task metadata documents (telemetry/resource.h): the task's and the
// container's JSON, separated by the first NUL byte. Whatever they hold, the
// resource keeps hawser's own service name and gains only string attributes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "telemetry/resource.h"

namespace t = hawser::telemetry;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto nul = in.find('\0');
  auto task = in.substr(0, nul);
  auto container = nul == std::string_view::npos ? std::string_view{} : in.substr(nul + 1);
  auto r = t::baseResource({"svc", "ns", "id", "1"});
  const auto before = r.size();
  const bool ok = t::addEcsResource(r, task, container);
  if (!ok && r.size() != before) __builtin_trap();  // a refused document adds nothing
  if (*t::findAttribute(r, "service.name") != "svc") __builtin_trap();
  return 0;
}
