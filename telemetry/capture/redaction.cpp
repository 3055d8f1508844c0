#include "telemetry/capture/redaction.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>

#include "telemetry/capture/record.h"

namespace hawser::telemetry {
namespace json = boost::json;

std::vector<std::string> parseFieldPath(std::string_view path) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    auto dot = path.find('.', start);
    auto seg = path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (seg.empty()) return {};
    out.emplace_back(seg);
    if (dot == std::string_view::npos) return out;
    start = dot + 1;
  }
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool replacePath(json::value& v, const std::vector<std::string>& path, size_t at) {
  if (at == path.size()) {
    if (v.is_string() && v.get_string() == kRedactedMarker) return false;
    v = kRedactedMarker;
    return true;
  }
  bool changed = false;
  const auto& key = path[at];
  if (auto* o = v.if_object()) {
    if (key == "*") {
      for (auto& kv : *o) changed |= replacePath(kv.value(), path, at + 1);
    } else if (auto it = o->find(key); it != o->end()) {
      changed |= replacePath(it->value(), path, at + 1);
    }
  } else if (auto* a = v.if_array()) {
    // An array is looked through: "items.card" reaches every items[i].card; "*" too.
    for (auto& e : *a) changed |= replacePath(e, path, key == "*" ? at + 1 : at);
  }
  return changed;
}

bool redactHeaders(json::object& message, const RedactionRules& rules, bool& json_typed) {
  bool changed = false;
  auto it = message.find("headers");
  if (it == message.end() || !it->value().is_array()) return false;
  for (auto& field : it->value().get_array()) {
    auto& pair = field.get_array();
    auto name = lower(pair[0].get_string());
    if (name == "content-type" && pair[1].get_string().find("json") != json::string::npos) json_typed = true;
    if (std::find(rules.headers.begin(), rules.headers.end(), name) != rules.headers.end() &&
        pair[1].get_string() != kRedactedMarker) {
      pair[1] = kRedactedMarker;
      changed = true;
    }
  }
  return changed;
}

bool redactBody(json::object& message, const RedactionRules& rules, bool json_typed) {
  if (rules.json_fields.empty()) return false;
  auto it = message.find("body");
  if (it == message.end() || !it->value().is_string()) return false;
  std::string body;
  if (!base64Decode(it->value().get_string(), body) || body.empty()) return false;
  boost::system::error_code ec;
  auto doc = json::parse(body, ec);
  if (ec) {
    if (!json_typed) return false;  // not JSON, and it does not say it is
    static const std::string replaced =
        base64Encode(std::string(kRedactedMarker) + " (a JSON body that could not be checked)");
    if (it->value().get_string() == replaced) return false;
    it->value() = replaced;
    return true;
  }
  bool changed = false;
  for (const auto& path : rules.json_fields) changed |= replacePath(doc, path, 0);
  if (changed) it->value() = base64Encode(json::serialize(doc));
  return changed;
}

}  // namespace

bool redactRecord(json::object& record, const RedactionRules& rules) {
  if (rules.empty()) return false;
  bool changed = false;
  for (const char* which : {"request", "response"}) {
    auto it = record.find(which);
    if (it == record.end() || !it->value().is_object()) continue;
    auto& m = it->value().get_object();
    bool json_typed = false;
    changed |= redactHeaders(m, rules, json_typed);
    changed |= redactBody(m, rules, json_typed);
  }
  if (changed) record["redacted"] = true;
  return changed;
}

}  // namespace hawser::telemetry
