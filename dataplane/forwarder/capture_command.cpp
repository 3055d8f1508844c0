#include "dataplane/forwarder/capture_command.h"

#include <boost/json/serialize.hpp>

#include <fstream>
#include <iostream>

#include "telemetry/capture/export.h"
#include "telemetry/capture/record.h"

namespace hawser::forwarder {
namespace {

const char* kHelp =
    "usage: hawser capture export --from DIR --format har|ndjson [--service S]\n"
    "                             [--since TIME] [--until TIME] [--output FILE]\n"
    "\n"
    "  --from DIR      an archive directory (the forwarder's storage.directory) or a spool\n"
    "  --format        har (HAR 1.2, for browser devtools and HAR tools) or ndjson (the records)\n"
    "  --service S     only the records of service S\n"
    "  --since/--until RFC 3339 UTC times (2026-12-02T10:00:00Z): start >= since, start < until\n"
    "  --output FILE   write there instead of stdout\n"
    "\n"
    "Records sent twice (a batch stored but not acknowledged, then retried) appear once.\n";

int usage(const std::string& message) {
  std::cerr << "hawser: " << message << "\n\n" << kHelp;
  return 2;
}

}  // namespace

int captureMain(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << kHelp;
    return args.empty() ? 2 : 0;
  }
  if (args[0] != "export") return usage("unknown capture command '" + args[0] + "'");
  std::string from, format, output;
  telemetry::ExportFilter filter;
  for (size_t i = 1; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << kHelp;
      return 0;
    }
    if (i + 1 >= args.size()) return usage("option '" + a + "' needs a value");
    const auto& v = args[++i];
    int64_t us = 0;
    if (a == "--from") {
      from = v;
    } else if (a == "--format") {
      format = v;
    } else if (a == "--service") {
      filter.service = v;
    } else if (a == "--output") {
      output = v;
    } else if (a == "--since" || a == "--until") {
      if (!telemetry::parseTimestamp(v, us)) return usage(a + ": not an RFC 3339 UTC time: '" + v + "'");
      (a == "--since" ? filter.since_us : filter.until_us) = us;
    } else {
      return usage("unknown option '" + a + "'");
    }
  }
  if (from.empty()) return usage("--from is required");
  if (format != "har" && format != "ndjson") return usage("--format must be har or ndjson");
  if (from.rfind("s3://", 0) == 0) return usage("s3:// sources are not supported yet; export from a directory");
  telemetry::ExportStats stats;
  std::string error;
  auto records = telemetry::readCaptured(from, filter, stats, error);
  if (!error.empty()) {
    std::cerr << "hawser: " << error << "\n";
    return 1;
  }
  std::ofstream file;
  if (!output.empty()) {
    file.open(output, std::ios::binary | std::ios::trunc);
    if (!file) {
      std::cerr << "hawser: cannot write " << output << "\n";
      return 1;
    }
  }
  std::ostream& out = output.empty() ? std::cout : file;
  if (format == "har") {
    out << boost::json::serialize(telemetry::toHar(records)) << "\n";
  } else {
    for (const auto& r : records) out << boost::json::serialize(r) << "\n";
  }
  out.flush();
  std::cerr << "hawser: exported " << records.size() << " records from " << stats.files << " files ("
            << stats.duplicates << " duplicates dropped, " << stats.invalid << " invalid lines skipped)\n";
  return out ? 0 : 1;
}

}  // namespace hawser::forwarder
