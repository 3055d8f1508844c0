#include "discovery/aws/cloudmap_codec.h"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/url/grammar/parse.hpp>
#include <boost/url/ipv4_address.hpp>
#include <boost/url/ipv6_address.hpp>

#include <limits>

namespace hawser::discovery::aws {
namespace {

boost::json::object toJson(const std::map<std::string, std::string>& m) {
  boost::json::object o;
  for (const auto& [k, v] : m) o[k] = v;
  return o;
}

std::string_view stripTypePrefix(std::string_view type) {
  // "com.amazonaws.servicediscovery#RequestLimitExceeded" -> "RequestLimitExceeded";
  // the X-Amzn-ErrorType header may also carry ":http://..." after the name.
  if (auto colon = type.find(':'); colon != std::string_view::npos) type = type.substr(0, colon);
  if (auto hash = type.rfind('#'); hash != std::string_view::npos) type = type.substr(hash + 1);
  return type;
}

bool isSuccess(unsigned status) {
  return status >= 200 && status < 300;
}

std::optional<uint16_t> parsePort(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v == 0 || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

bool isIpv4(std::string_view s) {
  return !s.empty() && boost::urls::parse_ipv4_address(s).has_value();
}
bool isIpv6(std::string_view s) {
  return !s.empty() && boost::urls::parse_ipv6_address(s).has_value();
}

std::optional<int64_t> asInt64(const boost::json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return static_cast<int64_t>(v.get_uint64());
  }
  return std::nullopt;
}

CloudMapError shapeError(unsigned status, std::string message) {
  return CloudMapError{CloudMapError::Kind::wrong_type, {}, std::move(message), status};
}

// Parses a successful body into an object, or the error to return.
std::variant<boost::json::object, CloudMapError> parseObject(unsigned status, std::string_view body) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (ec) return CloudMapError{CloudMapError::Kind::not_json, {}, "response is not JSON: " + ec.message(), status};
  if (!v.is_object()) return shapeError(status, "response is not a JSON object");
  return std::move(v.get_object());
}

std::variant<std::optional<int64_t>, CloudMapError> revisionOf(unsigned status, const boost::json::object& o) {
  const auto* r = o.if_contains("InstancesRevision");
  if (!r || r->is_null()) return std::optional<int64_t>{};
  auto rev = asInt64(*r);
  if (!rev) return shapeError(status, "InstancesRevision is not an integer");
  return rev;
}

// One HttpInstanceSummary -> Endpoint, or why it cannot be one.
std::variant<Endpoint, SkippedInstance> decodeInstance(const boost::json::value& v) {
  SkippedInstance skip{{}, CloudMapError::Kind::wrong_type, {}};
  const auto* o = v.if_object();
  if (!o) {
    skip.detail = "instance is not an object";
    return skip;
  }
  if (const auto* id = o->if_contains("InstanceId")) {
    if (const auto* s = id->if_string()) skip.instance_id.assign(s->data(), s->size());
  }
  Endpoint e;
  e.instance_id = skip.instance_id;
  if (const auto* attrs = o->if_contains("Attributes"); attrs && !attrs->is_null()) {
    const auto* ao = attrs->if_object();
    if (!ao) {
      skip.detail = "Attributes is not an object";
      return skip;
    }
    for (const auto& kv : *ao) {
      const auto* s = kv.value().if_string();
      if (!s) {
        skip.detail = "attribute " + std::string(kv.key()) + " is not a string";
        return skip;
      }
      e.attributes.emplace(std::string(kv.key()), std::string(s->data(), s->size()));
    }
  }
  auto attr = [&](const char* name) -> const std::string* {
    auto it = e.attributes.find(name);
    return it == e.attributes.end() ? nullptr : &it->second;
  };
  const std::string* v4 = attr("AWS_INSTANCE_IPV4");
  const std::string* v6 = attr("AWS_INSTANCE_IPV6");
  if (v4 && isIpv4(*v4)) {
    e.host = *v4;
  } else if (v6 && isIpv6(*v6)) {
    e.host = *v6;
  } else if (!v4 && !v6) {
    skip.reason = CloudMapError::Kind::missing_attribute;
    skip.detail = "no AWS_INSTANCE_IPV4 or AWS_INSTANCE_IPV6";
    return skip;
  } else {
    skip.reason = CloudMapError::Kind::bad_address;
    skip.detail = "AWS_INSTANCE_IPV4/IPV6 is not an IP address";
    return skip;
  }
  const std::string* port = attr("AWS_INSTANCE_PORT");
  if (!port) {
    skip.reason = CloudMapError::Kind::missing_attribute;
    skip.detail = "no AWS_INSTANCE_PORT";
    return skip;
  }
  auto p = parsePort(*port);
  if (!p) {
    skip.reason = CloudMapError::Kind::bad_port;
    skip.detail = "AWS_INSTANCE_PORT \"" + port->substr(0, 16) + "\" is not in 1..65535";
    return skip;
  }
  e.port = *p;
  return e;
}

}  // namespace

std::string cloudMapEndpoint(std::string_view region, std::string_view override_endpoint) {
  if (!override_endpoint.empty()) return std::string(override_endpoint);
  return "https://data-servicediscovery." + std::string(region) + ".amazonaws.com";
}

std::string_view toString(HealthStatusFilter f) {
  switch (f) {
    case HealthStatusFilter::healthy: return "HEALTHY";
    case HealthStatusFilter::unhealthy: return "UNHEALTHY";
    case HealthStatusFilter::all: return "ALL";
    case HealthStatusFilter::healthy_or_else_all: return "HEALTHY_OR_ELSE_ALL";
  }
  return "ALL";
}

std::optional<HealthStatusFilter> parseHealthStatusFilter(std::string_view s) {
  if (s == "HEALTHY") return HealthStatusFilter::healthy;
  if (s == "UNHEALTHY") return HealthStatusFilter::unhealthy;
  if (s == "ALL") return HealthStatusFilter::all;
  if (s == "HEALTHY_OR_ELSE_ALL") return HealthStatusFilter::healthy_or_else_all;
  return std::nullopt;
}

std::string encodeDiscoverInstances(const DiscoverInstancesRequest& r) {
  boost::json::object o;
  o["NamespaceName"] = r.namespace_name;
  o["ServiceName"] = r.service_name;
  if (r.max_results) o["MaxResults"] = *r.max_results;
  if (!r.query_parameters.empty()) o["QueryParameters"] = toJson(r.query_parameters);
  if (!r.optional_parameters.empty()) o["OptionalParameters"] = toJson(r.optional_parameters);
  if (r.health_status) o["HealthStatus"] = toString(*r.health_status);
  if (!r.owner_account.empty()) o["OwnerAccount"] = r.owner_account;
  return boost::json::serialize(o);
}

std::string encodeDiscoverInstancesRevision(std::string_view namespace_name, std::string_view service_name,
                                            std::string_view owner_account) {
  boost::json::object o;
  o["NamespaceName"] = namespace_name;
  o["ServiceName"] = service_name;
  if (!owner_account.empty()) o["OwnerAccount"] = owner_account;
  return boost::json::serialize(o);
}

std::string_view toString(CloudMapError::Kind kind) {
  switch (kind) {
    case CloudMapError::Kind::not_json: return "not_json";
    case CloudMapError::Kind::wrong_type: return "wrong_type";
    case CloudMapError::Kind::missing_attribute: return "missing_attribute";
    case CloudMapError::Kind::bad_port: return "bad_port";
    case CloudMapError::Kind::bad_address: return "bad_address";
    case CloudMapError::Kind::aws_error: return "aws_error";
    case CloudMapError::Kind::throttled: return "throttled";
    case CloudMapError::Kind::http_error: return "http_error";
  }
  return "unknown";
}

bool isThrottlingErrorType(std::string_view t) {
  // The throttling codes the AWS SDKs retry with backoff.
  static constexpr std::string_view kTypes[] = {
      "ThrottlingException",
      "Throttling",
      "ThrottledException",
      "RequestThrottledException",
      "TooManyRequestsException",
      "RequestLimitExceeded",
      "RequestLimitExceededException",
      "ProvisionedThroughputExceededException",
      "RequestThrottled",
      "SlowDown",
      "PriorRequestNotComplete",
      "BandwidthLimitExceeded",
      "EC2ThrottledException",
      "TransactionInProgressException",
  };
  for (auto k : kTypes) {
    if (t == k) return true;
  }
  return false;
}

CloudMapError decodeAwsError(unsigned http_status, std::string_view body, std::string_view error_type_header) {
  CloudMapError err{CloudMapError::Kind::http_error, {}, {}, http_status};
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (!ec) {
    if (const auto* o = v.if_object()) {
      for (const char* key : {"__type", "code", "Code"}) {
        if (const auto* t = o->if_contains(key); t && t->is_string()) {
          err.type = stripTypePrefix(std::string_view(t->get_string()));
          break;
        }
      }
      for (const char* key : {"message", "Message", "errorMessage"}) {
        if (const auto* m = o->if_contains(key); m && m->is_string()) {
          err.message.assign(m->get_string().data(), m->get_string().size());
          break;
        }
      }
    }
  }
  if (err.type.empty() && !error_type_header.empty()) err.type = stripTypePrefix(error_type_header);
  if (isThrottlingErrorType(err.type) || http_status == 429 || http_status == 503) {
    err.kind = CloudMapError::Kind::throttled;
  } else if (!err.type.empty()) {
    err.kind = CloudMapError::Kind::aws_error;
  }
  if (err.message.empty()) {
    err.message = "HTTP " + std::to_string(http_status) + (err.type.empty() ? "" : " " + err.type);
  }
  return err;
}

DiscoverInstancesResult decodeDiscoverInstances(unsigned http_status, std::string_view body,
                                                std::string_view error_type_header) {
  if (!isSuccess(http_status)) return decodeAwsError(http_status, body, error_type_header);
  auto parsed = parseObject(http_status, body);
  if (auto* e = std::get_if<CloudMapError>(&parsed)) return *e;
  const auto& o = std::get<boost::json::object>(parsed);

  DiscoveredInstances out;
  auto rev = revisionOf(http_status, o);
  if (auto* e = std::get_if<CloudMapError>(&rev)) return *e;
  out.revision = std::get<std::optional<int64_t>>(rev);

  const auto* instances = o.if_contains("Instances");
  if (!instances || instances->is_null()) {
    out.empty_instance_list = true;
    return out;
  }
  const auto* list = instances->if_array();
  if (!list) return shapeError(http_status, "Instances is not a list");
  if (list->empty()) {
    out.empty_instance_list = true;
    return out;
  }
  for (const auto& item : *list) {
    auto decoded = decodeInstance(item);
    if (auto* e = std::get_if<Endpoint>(&decoded)) {
      out.endpoints.push_back(std::move(*e));
    } else {
      out.skipped.push_back(std::move(std::get<SkippedInstance>(decoded)));
    }
  }
  if (out.endpoints.empty()) {
    const SkippedInstance& first = out.skipped.front();
    return CloudMapError{first.reason,
                         {},
                         "none of " + std::to_string(out.skipped.size()) + " instances is usable; first (" +
                             first.instance_id + "): " + first.detail,
                         http_status};
  }
  return out;
}

DiscoverInstancesRevisionResult decodeDiscoverInstancesRevision(unsigned http_status, std::string_view body,
                                                                std::string_view error_type_header) {
  if (!isSuccess(http_status)) return decodeAwsError(http_status, body, error_type_header);
  auto parsed = parseObject(http_status, body);
  if (auto* e = std::get_if<CloudMapError>(&parsed)) return *e;
  auto rev = revisionOf(http_status, std::get<boost::json::object>(parsed));
  if (auto* e = std::get_if<CloudMapError>(&rev)) return *e;
  auto value = std::get<std::optional<int64_t>>(rev);
  if (!value) {
    return CloudMapError{CloudMapError::Kind::missing_attribute, {}, "no InstancesRevision", http_status};
  }
  return *value;
}

}  // namespace hawser::discovery::aws
