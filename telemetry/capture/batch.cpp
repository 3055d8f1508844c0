#include "telemetry/capture/batch.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "telemetry/capture/record.h"
#include "telemetry/capture/segment.h"

namespace hawser::telemetry {
namespace json = boost::json;

DecodedBatch decodeBatch(std::string_view body, std::string_view encoding, const BatchLimits& limits,
                         const RedactionRules& rules) {
  DecodedBatch out;
  auto refuse = [&](unsigned status, std::string why) {
    out.status = status;
    out.error = std::move(why);
    out.records.clear();
    return out;
  };
  std::string inflated;
  std::string_view text = body;
  if (encoding == "gzip") {
    std::string error;
    if (!gunzipBounded(body, limits.max_inflated_bytes, inflated, error))
      return refuse(error.find("inflates past") != std::string::npos ? 413 : 400, "gzip: " + error);
    text = inflated;
  } else if (!encoding.empty() && encoding != "identity") {
    return refuse(415, "Content-Encoding must be gzip or absent");
  } else if (body.size() > limits.max_inflated_bytes) {
    return refuse(413, "the batch is larger than limits.max_batch_inflated_bytes");
  }
  size_t line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    auto nl = text.find('\n', pos);
    auto line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    boost::system::error_code ec;
    auto v = json::parse(line, ec);
    std::string problem = ec ? "not JSON (" + ec.message() + ")" : validateRecord(v);
    if (!problem.empty()) return refuse(400, "line " + std::to_string(line_no) + ": " + problem);
    auto& o = v.get_object();
    if (redactRecord(o, rules)) ++out.redacted;
    std::string service(o.at("service").get_string());
    out.records.emplace_back(std::move(service), json::serialize(o));
  }
  return out;
}

}  // namespace hawser::telemetry
