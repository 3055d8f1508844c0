// The forwarder's redaction rules, applied to every record before it is
// stored (as Speedscale's forwarder applies DLP rules): header values by
// name, and JSON body fields by path. A body that says it is JSON but does
// not parse (e.g. truncated at max_body_bytes) is replaced whole when there
// are field rules: a rule never passes data it could not check.
#pragma once

#include <boost/json/object.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace hawser::telemetry {

struct RedactionRules {
  std::vector<std::string> headers;                   // lower case
  std::vector<std::vector<std::string>> json_fields;  // "user.password" -> {"user","password"}; "*": any key or index

  bool empty() const { return headers.empty() && json_fields.empty(); }
};

// "a.b.*.c" -> {"a","b","*","c"}; empty on a malformed path (empty segment).
std::vector<std::string> parseFieldPath(std::string_view path);

// Applies `rules` to a validated record; true when anything was replaced.
bool redactRecord(boost::json::object& record, const RedactionRules& rules);

}  // namespace hawser::telemetry
