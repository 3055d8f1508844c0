#include "telemetry/capture/record.h"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>

namespace hawser::telemetry {
namespace json = boost::json;

void CapturedMessage::append(std::string_view bytes, uint64_t limit) {
  body_bytes += bytes.size();
  if (body.size() < limit) body.append(bytes.substr(0, static_cast<size_t>(limit - body.size())));
  truncated = body_bytes > body.size();
}

size_t CaptureRecord::approximateBytes() const {
  size_t n = 320 + id.size() + service.size() + remote_service.size() + request_id.size() + listener.size() +
             peer.size() + upstream.size() + method.size() + authority.size() + target.size() + reason.size() +
             trace_id.size() + span_id.size();
  for (const auto* m : {&request, &response}) {
    n += m->body.size() * 4 / 3 + 4;
    for (const auto& [k, v] : m->headers) n += k.size() + v.size() + 8;
  }
  return n;
}

namespace {

json::array headersJson(const CaptureHeaders& headers) {
  json::array a;
  a.reserve(headers.size());
  for (const auto& [k, v] : headers) a.push_back(json::array{json::string_view(k), json::string_view(v)});
  return a;
}

json::object messageJson(const CapturedMessage& m) {
  json::object o;
  o["headers"] = headersJson(m.headers);
  o["body"] = base64Encode(m.body);
  o["body_bytes"] = m.body_bytes;
  o["truncated"] = m.truncated;
  return o;
}

}  // namespace

std::string encodeRecord(const CaptureRecord& r) {
  json::object o;
  o["id"] = r.id;
  o["start"] = formatTimestamp(r.start_us);
  o["duration_us"] = r.duration_us;
  o["kind"] = r.kind;
  o["direction"] = r.direction;
  o["service"] = r.service;
  o["remote_service"] = r.remote_service;
  o["request_id"] = r.request_id;
  o["listener"] = r.listener;
  o["peer"] = r.peer;
  o["upstream"] = r.upstream;
  o["trace_id"] = r.trace_id;
  o["span_id"] = r.span_id;
  o["attempts"] = r.attempts;
  o["reason"] = r.reason;
  o["redacted"] = r.redacted;
  if (r.kind == "tcp") {
    o["bytes_in"] = r.bytes_in;
    o["bytes_out"] = r.bytes_out;
    return json::serialize(o);
  }
  auto rq = messageJson(r.request);
  rq["method"] = r.method;
  rq["scheme"] = r.scheme;
  rq["authority"] = r.authority;
  rq["target"] = r.target;
  rq["version"] = r.version == 10 ? "HTTP/1.0" : r.version == 20 ? "HTTP/2" : "HTTP/1.1";
  o["request"] = std::move(rq);
  if (r.kind == "http") {
    auto rs = messageJson(r.response);
    rs["status"] = r.status;
    o["response"] = std::move(rs);
  } else {
    o["status"] = r.status;
    o["bytes_in"] = r.bytes_in;
    o["bytes_out"] = r.bytes_out;
  }
  return json::serialize(o);
}

namespace {

const json::value* member(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it == o.end() ? nullptr : &it->value();
}

bool isString(const json::object& o, std::string_view key, size_t max = 1 << 16) {
  auto* v = member(o, key);
  return v && v->is_string() && v->get_string().size() <= max;
}

bool isCount(const json::object& o, std::string_view key) {
  auto* v = member(o, key);
  return v && (v->is_uint64() || (v->is_int64() && v->get_int64() >= 0));
}

std::string messageProblem(const json::value* v, std::string_view which, bool response) {
  std::string at(which);
  if (!v || !v->is_object()) return at + ": expected an object";
  const auto& m = v->get_object();
  auto* h = member(m, "headers");
  if (!h || !h->is_array()) return at + ".headers: expected a list";
  for (const auto& field : h->get_array()) {
    if (!field.is_array() || field.get_array().size() != 2 || !field.get_array()[0].is_string() ||
        !field.get_array()[1].is_string() || field.get_array()[0].get_string().empty())
      return at + ".headers: expected [name, value] pairs of strings";
  }
  auto* body = member(m, "body");
  std::string scratch;
  if (!body || !body->is_string() || !base64Decode(body->get_string(), scratch)) return at + ".body: expected base64";
  if (!isCount(m, "body_bytes")) return at + ".body_bytes: expected a count";
  auto* t = member(m, "truncated");
  if (!t || !t->is_bool()) return at + ".truncated: expected true or false";
  if (response) {
    auto* s = member(m, "status");
    if (!s || !(s->is_uint64() || s->is_int64()) || s->to_number<int64_t>() < 0 || s->to_number<int64_t>() > 999)
      return at + ".status: expected a status code";
  } else {
    for (const char* key : {"method", "target", "authority", "scheme", "version"}) {
      if (!isString(m, key)) return at + "." + key + ": expected a string";
    }
  }
  return "";
}

}  // namespace

std::string validateRecord(const json::value& v) {
  if (!v.is_object()) return "expected a JSON object";
  const auto& o = v.get_object();
  auto* id = member(o, "id");
  if (!id || !id->is_string() || id->get_string().empty() || id->get_string().size() > 64)
    return "id: expected 1-64 characters";
  for (char c : id->get_string()) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_')
      return "id: letters, digits, - and _ only";
  }
  auto* start = member(o, "start");
  int64_t us = 0;
  if (!start || !start->is_string() || !parseTimestamp(start->get_string(), us))
    return "start: expected an RFC 3339 time";
  if (!isCount(o, "duration_us")) return "duration_us: expected a count";
  auto* dir = member(o, "direction");
  if (!dir || !dir->is_string() || (dir->get_string() != "inbound" && dir->get_string() != "outbound"))
    return "direction: expected inbound or outbound";
  if (!isString(o, "service", 256) || o.at("service").get_string().empty()) return "service: expected a name";
  if (!std::isalnum(static_cast<unsigned char>(o.at("service").get_string()[0])))
    return "service: must start with a letter or digit";
  for (char c : o.at("service").get_string()) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return "service: letters, digits, '.', '-' and '_' only";
  }
  for (const char* key : {"peer", "trace_id", "span_id"}) {
    if (auto* f = member(o, key); f && !f->is_string()) return std::string(key) + ": expected a string";
  }
  auto* kind = member(o, "kind");
  if (!kind || !kind->is_string()) return "kind: expected http, tcp, connect or websocket";
  const auto& k = kind->get_string();
  if (k == "http") {
    if (auto p = messageProblem(member(o, "request"), "request", false); !p.empty()) return p;
    return messageProblem(member(o, "response"), "response", true);
  }
  if (k == "connect" || k == "websocket") {
    if (auto p = messageProblem(member(o, "request"), "request", false); !p.empty()) return p;
  } else if (k != "tcp") {
    return "kind: expected http, tcp, connect or websocket";
  }
  if (!isCount(o, "bytes_in") || !isCount(o, "bytes_out")) return "bytes_in, bytes_out: expected counts";
  return "";
}

std::string formatTimestamp(int64_t unix_us) {
  using namespace std::chrono;
  auto tp = sys_time<microseconds>(microseconds(unix_us));
  auto day = floor<days>(tp);
  year_month_day ymd(day);
  hh_mm_ss<microseconds> t(tp - day);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%06lldZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(t.hours().count()), static_cast<int>(t.minutes().count()),
                static_cast<int>(t.seconds().count()), static_cast<long long>(t.subseconds().count()));
  return buf;
}

bool parseTimestamp(std::string_view s, int64_t& unix_us) {
  using namespace std::chrono;
  auto num = [&](size_t pos, size_t len, int& out) {
    if (pos + len > s.size()) return false;
    for (size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
    }
    std::from_chars(s.data() + pos, s.data() + pos + len, out);
    return true;
  };
  int y, mo, d, h, mi, sec;
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
    return false;
  if (!num(0, 4, y) || !num(5, 2, mo) || !num(8, 2, d) || !num(11, 2, h) || !num(14, 2, mi) || !num(17, 2, sec))
    return false;
  size_t pos = 19;
  int64_t frac = 0;
  if (s[pos] == '.') {
    size_t digits = 0;
    for (++pos; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos, ++digits) {
      if (digits < 6) frac = frac * 10 + (s[pos] - '0');
    }
    if (digits == 0) return false;
    for (; digits < 6; ++digits) frac *= 10;
  }
  if (pos + 1 != s.size() || (s[pos] != 'Z' && s[pos] != 'z')) return false;
  year_month_day ymd{year(y), month(static_cast<unsigned>(mo)), day(static_cast<unsigned>(d))};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) return false;
  auto t = sys_days(ymd) + hours(h) + minutes(mi) + seconds(sec);
  unix_us = duration_cast<microseconds>(t.time_since_epoch()).count() + frac;
  return true;
}

namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string base64Encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  auto at = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(in[k])); };
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kAlphabet[(v >> s) & 63]);
  }
  if (size_t rest = in.size() - i) {
    uint32_t v = at(i) << 16 | (rest == 2 ? at(i + 1) << 8 : 0);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

bool base64Decode(std::string_view in, std::string& out) {
  static const auto table = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
    return t;
  }();
  out.clear();
  if (in.size() % 4) return false;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = in[i + k];
      if (c == '=' && last && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad) return false;  // data after padding
      v[k] = table[static_cast<unsigned char>(c)];
      if (v[k] < 0) return false;
    }
    uint32_t n = static_cast<uint32_t>(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
    out.push_back(static_cast<char>(n >> 16));
    if (pad < 2) out.push_back(static_cast<char>(n >> 8 & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(n & 0xff));
  }
  return true;
}

std::string recordId(uint64_t hi, uint64_t lo) {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(hi),
                static_cast<unsigned long long>(lo));
  return buf;
}

}  // namespace hawser::telemetry
