// `hawser capture export`: records read back from an archive directory
// (the *.ndjson.gz objects) or a forwarder's spool (segments), duplicates
// removed by id (a batch the forwarder stored but could not acknowledge
// is sent again), filtered, oldest first; written as NDJSON or HAR 1.2.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace hawser::telemetry {

struct ExportFilter {
  std::string service;              // "" any
  std::optional<int64_t> since_us;  // start >= since
  std::optional<int64_t> until_us;  // start < until
};

struct ExportStats {
  size_t files = 0;
  size_t records = 0;     // read
  size_t duplicates = 0;  // dropped by id
  size_t invalid = 0;     // lines that were not valid records (skipped)
};

// Every record under `dir` (recursively), deduplicated, filtered, by start time.
std::vector<boost::json::object> readCaptured(const std::string& dir, const ExportFilter& filter, ExportStats& stats,
                                              std::string& error);
// The same from in-memory NDJSON objects (e.g. downloaded from S3): appends to `out`.
void addCapturedLines(std::string_view ndjson, std::vector<boost::json::object>& out, ExportStats& stats);
// Dedup, filter and sort what addCapturedLines collected.
void finishCaptured(std::vector<boost::json::object>& records, const ExportFilter& filter, ExportStats& stats);

// HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/): one entry per
// HTTP record; hawser's fields (id, direction, service, peer, trace, TLS
// identity, truncation) as `_hawser` custom fields.
boost::json::object toHar(const std::vector<boost::json::object>& records);

}  // namespace hawser::telemetry
