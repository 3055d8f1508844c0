#include "discovery/file_source.h"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <fstream>
#include <sstream>

namespace hawser::discovery {

FileParseResult parseEndpointList(const std::string& text) {
  FileParseResult r;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    r.error = "line " + std::to_string(e.mark.line + 1) + ": " + e.msg;
    return r;
  }
  if (root.IsNull()) return r;  // an empty file is an empty set
  if (!root.IsSequence()) {
    r.error = "expected a list of \"host:port\" strings or {address, attributes} mappings";
    return r;
  }
  for (size_t i = 0; i < root.size(); ++i) {
    // "host:port", or {address: "host:port", attributes: {version: v2, ...}}.
    auto item = root[i];
    std::map<std::string, std::string> attributes;
    // reset(), not operator=: assigning a YAML::Node rewrites the node it shares with `item`.
    YAML::Node address;
    address.reset(item);
    if (item.IsMap()) {
      address.reset(item["address"]);
      for (const auto& kv : item) {
        auto key = kv.first.Scalar();
        if (key != "address" && key != "attributes") {
          r.error = "item " + std::to_string(i) + ": unknown key \"" + key + "\" (expected address, attributes)";
          r.endpoints.clear();
          return r;
        }
      }
      if (auto attrs = item["attributes"]; attrs && !attrs.IsNull()) {
        if (!attrs.IsMap()) {
          r.error = "item " + std::to_string(i) + ": attributes must be a mapping of strings";
          r.endpoints.clear();
          return r;
        }
        for (const auto& kv : attrs) attributes[kv.first.Scalar()] = kv.second.IsScalar() ? kv.second.Scalar() : "";
      }
    }
    std::string s = address && address.IsScalar() ? address.Scalar() : "";
    auto colon = s.rfind(':');
    unsigned port = 0;
    const char* end = s.data() + s.size();
    auto parsed = colon == std::string::npos || colon == 0
                      ? std::from_chars_result{s.data(), std::errc::invalid_argument}
                      : std::from_chars(s.data() + colon + 1, end, port);
    if (parsed.ec != std::errc() || parsed.ptr != end || port == 0 || port > 65535) {
      r.error = "item " + std::to_string(i) + ": invalid endpoint \"" + s + "\" (expected host:port)";
      r.endpoints.clear();
      return r;
    }
    std::string host = s.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    r.endpoints.push_back({std::move(host), static_cast<uint16_t>(port), std::move(attributes)});
  }
  return r;
}

bool FileSource::poll(FileParseResult& result) {
  // Compare contents, not stamps: an in-place rewrite read half-way would
  // otherwise leave a stamp that matches the finished file, and the finished
  // contents would never be read.
  std::ifstream in(path_);
  if (!in) {
    bool changed = first_ || !missing_;
    first_ = false;
    missing_ = true;
    last_.clear();
    result = {{}, "cannot read " + path_};
    return changed;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (!first_ && !missing_ && text == last_) return false;
  first_ = false;
  missing_ = false;
  last_ = std::move(text);
  result = parseEndpointList(last_);
  return true;
}

}  // namespace hawser::discovery
