// `hawser capture export`: captured traffic out of an archive or spool as
// HAR 1.2 or NDJSON (telemetry/capture/export.h).
#pragma once

#include <string>
#include <vector>

namespace hawser::forwarder {

int captureMain(const std::vector<std::string>& args);

}  // namespace hawser::forwarder
