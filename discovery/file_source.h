// The `file` discovery source: a YAML list of "host:port" strings or
// {address: "host:port", attributes: {...}} mappings, re-read when the file
// changes. Parsing is pure; the caller owns the polling timer.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

#include "discovery/endpoint.h"

namespace hawser::discovery {

struct FileParseResult {
  std::vector<EndpointSpec> endpoints;
  std::string error;  // empty on success
};

FileParseResult parseEndpointList(const std::string& text);

// Remembers the file's last contents so a poll parses it only on change.
class FileSource {
 public:
  explicit FileSource(std::string path) : path_(std::move(path)) {}
  const std::string& path() const { return path_; }
  // True when the file changed since the last call (or on the first call);
  // fills `result`. A missing or unreadable file is an error result.
  bool poll(FileParseResult& result);

 private:
  std::string path_;
  bool first_ = true;
  bool missing_ = false;
  std::string last_;  // the contents last parsed
};

}  // namespace hawser::discovery
