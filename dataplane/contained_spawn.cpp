#include "dataplane/contained_spawn.h"

#include <prometheus/counter.h>

#include "telemetry/log.h"

namespace hawser {

void reportEscapedException(std::string_view task, std::exception_ptr e,
                            prometheus::Counter& internal_errors) noexcept {
  internal_errors.Increment();
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    log::error("internal error: an exception escaped; its connection is closed", {{"task", task}, {"error", x.what()}});
  } catch (...) {
    log::error("internal error: an exception escaped; its connection is closed",
               {{"task", task}, {"error", "unknown exception"}});
  }
}

}  // namespace hawser
