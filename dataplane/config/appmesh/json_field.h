// A position in one App Mesh JSON document (the value, its file and its JSON
// path), and the Ledger that records which paths the importer mapped, so
// that every field it did not map is reported and none is dropped silently.
#pragma once

#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace hawser::config::appmesh {

// One line of the importer's report: a field it could not map (or a note).
struct Finding {
  std::string source;  // the input file
  std::string path;    // JSON path in it, e.g. virtualNode.spec.listeners[0].connectionPool.http
  std::string message;
  bool note = false;  // true: information only (the field was mapped, or it belongs to another sidecar)
};

// The first malformed input found: an input that is not what the App Mesh API returns.
struct InputError {
  std::string source;
  std::string path;
  std::string message;
};

class Ledger {
 public:
  // `path` and everything below it are dealt with (mapped, reported or deliberately left out).
  void consume(const std::string& path) { consumed_.insert(path); }
  void report(const std::string& source, const std::string& path, std::string message, bool note = false);
  // A finding about the whole of `path` (e.g. what it lacks) that leaves its fields to be reported on their own.
  void remark(const std::string& source, const std::string& path, std::string message);
  // An input error; only the first one is kept (it stops the import).
  void fail(const std::string& source, const std::string& path, std::string message);

  bool covered(const std::string& path) const;
  const std::vector<Finding>& findings() const { return findings_; }
  const std::optional<InputError>& error() const { return error_; }
  size_t unmappedCount() const;

 private:
  void add(const std::string& source, const std::string& path, std::string message, bool note);

  std::set<std::string> consumed_;
  std::vector<Finding> findings_;
  std::optional<InputError> error_;
};

// Reading a field marks it consumed; a value of the wrong JSON type is an
// input error recorded in the ledger (and reads as absent).
class JsonField {
 public:
  JsonField(const boost::json::value* value, std::string path, std::string source, Ledger* ledger)
      : value_(value), path_(std::move(path)), source_(std::move(source)), ledger_(ledger) {}

  bool present() const { return value_ != nullptr && !value_->is_null(); }
  const std::string& path() const { return path_; }
  const std::string& source() const { return source_; }
  const boost::json::value* value() const { return value_; }
  Ledger& ledger() const { return *ledger_; }

  JsonField operator[](const char* key) const;
  // Arrays: the number of items (0 when absent; an input error when not an array).
  size_t size() const;
  JsonField item(size_t i) const;
  // The keys of an object, in document order (empty when absent).
  std::vector<std::string> keys() const;

  std::optional<std::string> string() const;
  std::optional<int64_t> integer() const;
  std::optional<bool> boolean() const;
  // A list of strings (e.g. subjectAlternativeNames.match.exact).
  std::vector<std::string> strings() const;
  // An App Mesh Duration {unit: ms|s, value} as a hawser duration ("250ms", "2s").
  std::optional<std::string> duration() const;
  // A number of milliseconds (intervalMillis, timeoutMillis) as a hawser duration.
  std::optional<std::string> millis() const;

  void consume() const {
    if (present()) ledger_->consume(path_);
  }
  // Reports this field as not mapped, with why.
  void unmapped(std::string why) const {
    if (present()) ledger_->report(source_, path_, std::move(why));
  }
  void note(std::string what) const {
    if (present()) ledger_->report(source_, path_, std::move(what), true);
  }
  void fail(std::string problem) const { ledger_->fail(source_, path_, std::move(problem)); }

 private:
  const boost::json::value* value_;
  std::string path_;
  std::string source_;
  Ledger* ledger_;
};

// Reports every leaf below `f` that no mapping consumed or reported.
void reportUnconsumed(const JsonField& f);

std::string millisDuration(int64_t ms);

}  // namespace hawser::config::appmesh
