#include "telemetry/capture/export.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_set>

#include "telemetry/capture/record.h"
#include "telemetry/capture/segment.h"

namespace hawser::telemetry {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

void addRecord(std::string_view line, std::vector<json::object>& out, ExportStats& stats) {
  if (line.empty()) return;
  boost::system::error_code ec;
  auto v = json::parse(line, ec);
  if (ec || !validateRecord(v).empty()) {
    ++stats.invalid;
    return;
  }
  ++stats.records;
  out.push_back(std::move(v.get_object()));
}

int64_t startOf(const json::object& o) {
  int64_t us = 0;
  parseTimestamp(o.at("start").get_string(), us);
  return us;
}

bool validUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    }
    i += n;
  }
  return true;
}

json::array harHeaders(const json::value& headers, std::string* content_type) {
  json::array out;
  for (const auto& f : headers.as_array()) {
    const auto& name = f.as_array()[0].as_string();
    const auto& value = f.as_array()[1].as_string();
    if (content_type && content_type->empty()) {
      std::string lower(name.c_str());
      std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
      if (lower == "content-type") *content_type = value.c_str();
    }
    out.push_back(json::object{{"name", name}, {"value", value}});
  }
  return out;
}

json::array queryString(std::string_view target) {
  json::array out;
  auto q = target.find('?');
  if (q == std::string_view::npos) return out;
  auto query = target.substr(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    auto eq = pair.find('=');
    out.push_back(json::object{{"name", pair.substr(0, eq)},
                               {"value", eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1)}});
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

}  // namespace

void addCapturedLines(std::string_view ndjson, std::vector<json::object>& out, ExportStats& stats) {
  for (size_t pos = 0; pos < ndjson.size();) {
    auto nl = ndjson.find('\n', pos);
    addRecord(ndjson.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos), out, stats);
    pos = nl == std::string_view::npos ? ndjson.size() : nl + 1;
  }
}

void finishCaptured(std::vector<json::object>& records, const ExportFilter& filter, ExportStats& stats) {
  std::unordered_set<std::string> seen;
  std::vector<json::object> kept;
  kept.reserve(records.size());
  for (auto& r : records) {
    if (!seen.insert(std::string(r.at("id").get_string())).second) {
      ++stats.duplicates;
      continue;
    }
    if (!filter.service.empty() && r.at("service").get_string() != filter.service) continue;
    const auto start = startOf(r);
    if (filter.since_us && start < *filter.since_us) continue;
    if (filter.until_us && start >= *filter.until_us) continue;
    kept.push_back(std::move(r));
  }
  std::stable_sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return startOf(a) < startOf(b); });
  records = std::move(kept);
}

std::vector<json::object> readCaptured(const std::string& dir, const ExportFilter& filter, ExportStats& stats,
                                       std::string& error) {
  std::vector<json::object> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    error = dir + ": not a directory";
    return out;
  }
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file()) files.push_back(it->path());
  }
  if (ec) {
    error = dir + ": " + ec.message();
    return out;
  }
  std::sort(files.begin(), files.end());
  for (const auto& p : files) {
    const auto name = p.filename().string();
    const auto ends = [&](std::string_view suffix) {
      return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    // A live spool moves files while it is read (closed, archived): one that is gone was moved.
    if (!fs::exists(p, ec)) continue;
    if (ends(".ndjson.gz") || ends(".ndjson")) {
      std::ifstream in(p, std::ios::binary);
      if (!in) continue;
      std::stringstream ss;
      ss << in.rdbuf();
      std::string text = ss.str(), inflated, problem;
      if (ends(".gz")) {
        if (!gunzipBounded(text, size_t(4) << 30, inflated, problem)) {
          error = p.string() + ": " + problem;
          return {};
        }
        text = std::move(inflated);
      }
      ++stats.files;
      addCapturedLines(text, out, stats);
    } else if (ends(".closed") || ends(".open")) {
      auto contents = readSegment(p.string());
      if (!contents.error.empty()) {
        if (!fs::exists(p, ec)) continue;  // moved meanwhile
        error = contents.error;
        return {};
      }
      ++stats.files;
      for (const auto& r : contents.records) addRecord(r, out, stats);
    }
  }
  finishCaptured(out, filter, stats);
  return out;
}

json::object toHar(const std::vector<json::object>& records) {
  json::array entries;
  for (const auto& r : records) {
    if (r.at("kind").get_string() != "http") continue;
    const auto& rq = r.at("request").as_object();
    const auto& rs = r.at("response").as_object();
    std::string req_type, res_type, req_body, res_body;
    base64Decode(rq.at("body").as_string(), req_body);
    base64Decode(rs.at("body").as_string(), res_body);
    auto req_headers = harHeaders(rq.at("headers"), &req_type);
    auto res_headers = harHeaders(rs.at("headers"), &res_type);
    std::string_view target = rq.at("target").as_string();
    // An absolute-form target (a forward proxy's request) is the URL already.
    const bool absolute = target.rfind("http://", 0) == 0 || target.rfind("https://", 0) == 0;
    std::string url = absolute ? std::string(target)
                               : std::string(rq.at("scheme").as_string()) + "://" +
                                     std::string(rq.at("authority").as_string()) + std::string(target);
    const double ms = static_cast<double>(r.at("duration_us").to_number<int64_t>()) / 1000.0;
    json::object request{{"method", rq.at("method")},
                         {"url", url},
                         {"httpVersion", rq.at("version")},
                         {"cookies", json::array()},
                         {"headers", std::move(req_headers)},
                         {"queryString", queryString(target)},
                         {"headersSize", -1},
                         {"bodySize", rq.at("body_bytes")}};
    if (!req_body.empty()) {
      json::object post{{"mimeType", req_type}};
      if (validUtf8(req_body)) {
        post["text"] = req_body;
      } else {
        post["text"] = rq.at("body");
        post["_encoding"] = "base64";
      }
      request["postData"] = std::move(post);
    }
    json::object content{{"size", rs.at("body_bytes")}, {"mimeType", res_type}};
    if (validUtf8(res_body)) {
      content["text"] = res_body;
    } else {
      content["text"] = rs.at("body");
      content["encoding"] = "base64";
    }
    std::string location;
    for (const auto& h : rs.at("headers").as_array()) {
      std::string n(h.as_array()[0].as_string().c_str());
      std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
      if (n == "location") location = h.as_array()[1].as_string().c_str();
    }
    json::object response{{"status", rs.at("status")},         {"statusText", ""},
                          {"httpVersion", rq.at("version")},   {"cookies", json::array()},
                          {"headers", std::move(res_headers)}, {"content", std::move(content)},
                          {"redirectURL", location},           {"headersSize", -1},
                          {"bodySize", rs.at("body_bytes")}};
    json::object hawser{{"id", r.at("id")},
                        {"direction", r.at("direction")},
                        {"service", r.at("service")},
                        {"peer", r.contains("peer") ? r.at("peer") : json::value("")},
                        {"trace_id", r.contains("trace_id") ? r.at("trace_id") : json::value("")},
                        {"span_id", r.contains("span_id") ? r.at("span_id") : json::value("")},
                        {"request_truncated", rq.at("truncated")},
                        {"response_truncated", rs.at("truncated")}};
    for (const char* k : {"remote_service", "upstream", "attempts", "reason", "request_id", "listener", "redacted"}) {
      if (auto it = r.find(k); it != r.end()) hawser[k] = it->value();
    }
    entries.push_back(json::object{
        {"startedDateTime", r.at("start")},
        {"time", ms},
        {"request", std::move(request)},
        {"response", std::move(response)},
        {"cache", json::object()},
        {"timings",
         {{"blocked", -1}, {"dns", -1}, {"connect", -1}, {"send", 0}, {"wait", ms}, {"receive", 0}, {"ssl", -1}}},
        {"_hawser", std::move(hawser)}});
  }
  return json::object{
      {"log",
       {{"version", "1.2"}, {"creator", {{"name", "hawser"}, {"version", HAWSER_VERSION}}}, {"entries", entries}}}};
}

}  // namespace hawser::telemetry
