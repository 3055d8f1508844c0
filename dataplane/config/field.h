// The config loader's view of a YAML node: the value plus where it came
// from, so that every error names the file, line, key path and problem.
// Shared by the loader's files (config_loader.cpp, tracing_config.cpp).
#pragma once

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <charconv>
#include <initializer_list>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/config/config.h"

namespace hawser::config {

// A YAML node plus where it came from, so every error can say file:line key.
class Field {
 public:
  Field(const YAML::Node& node, std::string path, const std::string& source)
      : node_(node), path_(std::move(path)), source_(source) {}

  [[noreturn]] void fail(const std::string& problem) const {
    std::ostringstream out;
    out << source_;
    if (node_.IsDefined() && node_.Mark().line >= 0) out << ":" << node_.Mark().line + 1;
    out << ": " << (path_.empty() ? "(top level)" : path_) << ": " << problem;
    throw ConfigError(out.str());
  }

  const std::string& path() const { return path_; }

  Field child(const std::string& key) const {
    return Field(node_[key], path_.empty() ? key : path_ + "." + key, source_, node_);
  }
  Field item(size_t i) const { return Field(node_[i], path_ + "[" + std::to_string(i) + "]", source_); }

  // Rejects keys not in `allowed`: a typo must never be silently ignored.
  void expectMap(std::initializer_list<const char*> allowed) const {
    if (!node_.IsMap()) fail("expected a mapping");
    std::set<std::string> ok(allowed.begin(), allowed.end());
    for (const auto& kv : node_) {
      auto key = kv.first.as<std::string>();
      if (!ok.count(key)) {
        Field(kv.first, path_.empty() ? key : path_ + "." + key, source_).fail("unknown key");
      }
    }
  }
  // A free-form mapping of strings (e.g. Cloud Map query parameters).
  std::vector<std::pair<std::string, std::string>> stringMap() const {
    if (!node_.IsMap()) fail("expected a mapping of strings");
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& kv : node_) {
      auto key = kv.first.as<std::string>();
      Field v(kv.second, path_ + "." + key, source_);
      out.emplace_back(key, v.string());
    }
    return out;
  }
  size_t expectList() const {
    if (!node_.IsSequence()) fail("expected a list");
    return node_.size();
  }

  std::string string() const {
    if (!node_.IsScalar()) fail("expected a string");
    return node_.Scalar();
  }
  std::string nonEmptyString() const {
    auto s = string();
    if (s.empty()) fail("must not be empty");
    return s;
  }
  uint64_t unsignedInt(uint64_t min, uint64_t max) const {
    if (!node_.IsScalar()) fail("expected a number");
    const auto& s = node_.Scalar();
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) fail("expected a whole number, got \"" + s + "\"");
    if (v < min || v > max) {
      fail("must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + s);
    }
    return v;
  }
  // A size in bytes: a whole number, optionally with KiB, MiB or GiB.
  uint64_t bytes(uint64_t min, uint64_t max) const {
    if (!node_.IsScalar()) fail("expected a size such as 65536, 64KiB or 16MiB");
    const auto& s = node_.Scalar();
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    std::string_view unit(end, s.data() + s.size() - end);
    uint64_t scale = unit.empty()    ? 1
                     : unit == "KiB" ? 1ull << 10
                     : unit == "MiB" ? 1ull << 20
                     : unit == "GiB" ? 1ull << 30
                                     : 0;
    if (ec != std::errc() || end == s.data() || scale == 0 || v > max / scale)
      fail("invalid size \"" + s + "\" (use e.g. 65536, 64KiB, 16MiB, 2GiB)");
    v *= scale;
    if (v < min || v > max)
      fail("must be between " + std::to_string(min) + " and " + std::to_string(max) + " bytes, got " + s);
    return v;
  }
  // A list of strings.
  std::vector<std::string> stringList() const {
    std::vector<std::string> out;
    for (size_t i = 0, n = expectList(); i < n; ++i) out.push_back(item(i).nonEmptyString());
    return out;
  }
  // A number between 0 and 1 (a ratio such as sample_ratio).
  double ratio() const {
    if (!node_.IsScalar()) fail("expected a number between 0 and 1");
    const auto& s = node_.Scalar();
    double v = -1;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || !(v >= 0.0 && v <= 1.0)) {
      fail("expected a number between 0 and 1, got \"" + s + "\"");
    }
    return v;
  }
  bool boolean() const {
    if (!node_.IsScalar()) fail("expected true or false");
    const auto& s = node_.Scalar();
    if (s == "true") return true;
    if (s == "false") return false;
    fail("expected true or false, got \"" + s + "\"");
  }
  Duration duration() const {
    if (!node_.IsScalar()) fail("expected a duration such as 250ms, 2s or 5m");
    const auto& s = node_.Scalar();
    auto bad = [&] { fail("invalid duration \"" + s + "\" (use e.g. 250ms, 2s, 5m)"); };
    if (s.empty() || s[0] == '-') bad();
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || end == s.data()) bad();
    std::string_view unit(end, s.data() + s.size() - end);
    uint64_t ms;
    if (unit == "ms")
      ms = n;
    else if (unit == "s")
      ms = n * 1000;
    else if (unit == "m")
      ms = n * 60'000;
    else if (unit == "h")
      ms = n * 3'600'000;
    else
      bad();
    if (n > 1'000'000'000) bad();
    return Duration(ms);
  }
  Address address() const {
    auto s = nonEmptyString();
    auto colon = s.rfind(':');
    if (colon == std::string::npos || colon == 0) fail("invalid address \"" + s + "\" (expected host:port)");
    Address a;
    a.host = s.substr(0, colon);
    if (a.host.size() > 2 && a.host.front() == '[' && a.host.back() == ']')
      a.host = a.host.substr(1, a.host.size() - 2);
    auto port = std::string_view(s).substr(colon + 1);
    unsigned p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || end != port.data() + port.size() || port.empty()) {
      fail("invalid port in address \"" + s + "\"");
    }
    if (p > 65535) fail("port out of range in address \"" + s + "\" (0-65535)");
    for (char c : a.host) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '_')) {
        fail("invalid host in address \"" + s + "\"");
      }
    }
    a.port = static_cast<uint16_t>(p);
    return a;
  }
  template <class Enum>
  Enum oneOf(std::initializer_list<std::pair<const char*, Enum>> options) const {
    auto s = string();
    std::string names;
    for (const auto& [n, v] : options) {
      if (s == n) return v;
      names += names.empty() ? n : std::string(", ") + n;
    }
    fail("invalid value \"" + s + "\" (expected one of: " + names + ")");
  }

 private:
  // A missing key reports the line of the mapping that lacks it.
  Field(const YAML::Node& node, std::string path, const std::string& source, const YAML::Node& parent)
      : node_(node.IsDefined() ? node : parent), path_(std::move(path)), source_(source), missing_(!node.IsDefined()) {}

  YAML::Node node_;
  std::string path_;
  const std::string& source_;
  bool missing_ = false;

 public:
  bool present() const { return !missing_ && !node_.IsNull(); }
  bool isMap() const { return present() && node_.IsMap(); }
  Field required() const {
    if (!present()) fail("required key is missing");
    return *this;
  }
};

// Pieces of the proxy's loader other loaders share (config_loader.cpp).
Tls readTls(const Field& tls);  // the top-level `tls` mapping
YAML::Node parseYaml(const std::string& text, const std::string& source);
std::string readConfigFile(const std::string& path);  // ConfigError naming the file when unreadable

}  // namespace hawser::config
