#include "dataplane/config/appmesh/json_field.h"

#include <boost/json.hpp>

namespace hawser::config::appmesh {

namespace json = boost::json;

void Ledger::report(const std::string& source, const std::string& path, std::string message, bool note) {
  consumed_.insert(path);
  add(source, path, std::move(message), note);
}

void Ledger::remark(const std::string& source, const std::string& path, std::string message) {
  add(source, path, std::move(message), false);
}

void Ledger::add(const std::string& source, const std::string& path, std::string message, bool note) {
  // A field read for two backends (backendDefaults, a shared target node) is reported once.
  for (const auto& f : findings_) {
    if (f.source == source && f.path == path && f.message == message) return;
  }
  findings_.push_back({source, path, std::move(message), note});
}

void Ledger::fail(const std::string& source, const std::string& path, std::string message) {
  if (!error_) error_ = InputError{source, path, std::move(message)};
}

bool Ledger::covered(const std::string& path) const {
  if (consumed_.count(path)) return true;
  for (size_t i = 0; i < path.size(); ++i) {
    if ((path[i] == '.' || path[i] == '[') && consumed_.count(path.substr(0, i))) return true;
  }
  return false;
}

size_t Ledger::unmappedCount() const {
  size_t n = 0;
  for (const auto& f : findings_) n += f.note ? 0 : 1;
  return n;
}

namespace {

const char* kindName(const json::value& v) {
  switch (v.kind()) {
    case json::kind::object: return "an object";
    case json::kind::array: return "an array";
    case json::kind::string: return "a string";
    case json::kind::bool_: return "a boolean";
    case json::kind::null: return "null";
    default: return "a number";
  }
}

}  // namespace

JsonField JsonField::operator[](const char* key) const {
  std::string child = path_.empty() ? std::string(key) : path_ + "." + key;
  if (!present()) return JsonField(nullptr, std::move(child), source_, ledger_);
  if (!value_->is_object()) {
    fail(std::string("expected an object, got ") + kindName(*value_));
    return JsonField(nullptr, std::move(child), source_, ledger_);
  }
  return JsonField(value_->as_object().if_contains(key), std::move(child), source_, ledger_);
}

size_t JsonField::size() const {
  if (!present()) return 0;
  if (!value_->is_array()) {
    fail(std::string("expected an array, got ") + kindName(*value_));
    return 0;
  }
  return value_->as_array().size();
}

JsonField JsonField::item(size_t i) const {
  std::string child = path_ + "[" + std::to_string(i) + "]";
  const json::value* v =
      present() && value_->is_array() && i < value_->as_array().size() ? &value_->as_array()[i] : nullptr;
  return JsonField(v, std::move(child), source_, ledger_);
}

std::vector<std::string> JsonField::keys() const {
  std::vector<std::string> out;
  if (!present()) return out;
  if (!value_->is_object()) {
    fail(std::string("expected an object, got ") + kindName(*value_));
    return out;
  }
  for (const auto& kv : value_->as_object()) out.emplace_back(kv.key());
  return out;
}

std::optional<std::string> JsonField::string() const {
  if (!present()) return std::nullopt;
  if (!value_->is_string()) {
    fail(std::string("expected a string, got ") + kindName(*value_));
    return std::nullopt;
  }
  consume();
  return std::string(value_->as_string());
}

std::optional<int64_t> JsonField::integer() const {
  if (!present()) return std::nullopt;
  if (value_->is_int64()) {
    consume();
    return value_->as_int64();
  }
  if (value_->is_uint64() && value_->as_uint64() <= uint64_t(INT64_MAX)) {
    consume();
    return int64_t(value_->as_uint64());
  }
  fail(std::string("expected a whole number, got ") + kindName(*value_));
  return std::nullopt;
}

std::optional<bool> JsonField::boolean() const {
  if (!present()) return std::nullopt;
  if (!value_->is_bool()) {
    fail(std::string("expected true or false, got ") + kindName(*value_));
    return std::nullopt;
  }
  consume();
  return value_->as_bool();
}

std::vector<std::string> JsonField::strings() const {
  std::vector<std::string> out;
  size_t n = size();
  for (size_t i = 0; i < n; ++i) {
    if (auto s = item(i).string()) out.push_back(*s);
  }
  consume();
  return out;
}

std::string millisDuration(int64_t ms) {
  if (ms >= 1000 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::optional<std::string> JsonField::duration() const {
  if (!present()) return std::nullopt;
  auto unit = (*this)["unit"].string();
  auto value = (*this)["value"].integer();
  if (!unit || !value) {
    if (!ledger_->error()) fail("expected a Duration {\"unit\": \"ms\" | \"s\", \"value\": N}");
    return std::nullopt;
  }
  if (*value < 0) {
    (*this)["value"].fail("must not be negative");
    return std::nullopt;
  }
  consume();
  if (*unit == "ms") return millisDuration(*value);
  if (*unit == "s") return std::to_string(*value) + "s";
  (*this)["unit"].fail("expected \"ms\" or \"s\", got \"" + *unit + "\"");
  return std::nullopt;
}

std::optional<std::string> JsonField::millis() const {
  auto v = integer();
  if (!v) return std::nullopt;
  if (*v < 0) {
    fail("must not be negative");
    return std::nullopt;
  }
  return millisDuration(*v);
}

void reportUnconsumed(const JsonField& f) {
  if (!f.present() || f.ledger().covered(f.path())) return;
  const auto& v = *f.value();
  if (v.is_object() && !v.as_object().empty()) {
    for (const auto& key : f.keys()) reportUnconsumed(f[key.c_str()]);
  } else if (v.is_array() && !v.as_array().empty()) {
    for (size_t i = 0; i < v.as_array().size(); ++i) reportUnconsumed(f.item(i));
  } else {
    f.unmapped("not mapped: the importer does not know this App Mesh field");
  }
}

}  // namespace hawser::config::appmesh
