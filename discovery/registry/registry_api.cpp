#include "discovery/registry/registry_api.h"

#include <algorithm>
#include <charconv>
#include <set>
#include <stdexcept>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/url/grammar/parse.hpp>
#include <boost/url/rfc/ipv4_address_rule.hpp>

namespace hawser::discovery::registry {
namespace json = boost::json;

namespace {

// Thrown inside handle() only, to unwind input validation in one line per
// check; it never leaves handle(), which turns it into an AWS error body.
struct ApiError {
  std::string type;
  std::string message;
  json::object extra = {};
};

[[noreturn]] void fail(std::string type, std::string message, json::object extra = {}) {
  throw ApiError{std::move(type), std::move(message), std::move(extra)};
}
[[noreturn]] void invalid(std::string message) {
  fail("InvalidInput", std::move(message));
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::optional<std::string> header(const aws::HeaderList& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (lower(k) == name) return v;
  }
  return std::nullopt;
}

bool printableAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return c >= 0x21 && c <= 0x7e; });
}

// Typed access to the request members, with the API's InvalidInput errors.
const json::value* memberOf(const json::object& in, std::string_view key) {
  return in.if_contains(key);
}

std::optional<std::string> optString(const json::object& in, std::string_view key, size_t max_len = 4096) {
  auto* v = memberOf(in, key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_string()) invalid(std::string(key) + " must be a string");
  std::string s(v->get_string());
  if (s.size() > max_len) invalid(std::string(key) + " is longer than " + std::to_string(max_len));
  return s;
}

std::string reqString(const json::object& in, std::string_view key, size_t max_len = 4096) {
  auto s = optString(in, key, max_len);
  if (!s || s->empty()) invalid(std::string(key) + " is required");
  return *s;
}

std::optional<int64_t> optInt(const json::object& in, std::string_view key, int64_t min, int64_t max) {
  auto* v = memberOf(in, key);
  if (!v || v->is_null()) return std::nullopt;
  int64_t n = 0;
  if (v->is_int64())
    n = v->get_int64();
  else if (v->is_uint64() && v->get_uint64() <= static_cast<uint64_t>(INT64_MAX))
    n = static_cast<int64_t>(v->get_uint64());
  else
    invalid(std::string(key) + " must be an integer");
  if (n < min || n > max) {
    invalid(std::string(key) + " must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return n;
}

std::optional<json::object> optObject(const json::object& in, std::string_view key) {
  auto* v = memberOf(in, key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_object()) invalid(std::string(key) + " must be an object");
  return v->get_object();
}

std::optional<json::array> optArray(const json::object& in, std::string_view key) {
  auto* v = memberOf(in, key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_array()) invalid(std::string(key) + " must be a list");
  return v->get_array();
}

std::map<std::string, std::string> optAttributes(const json::object& in, std::string_view key) {
  std::map<std::string, std::string> out;
  auto o = optObject(in, key);
  if (!o) return out;
  for (const auto& [k, v] : *o) {
    if (k.empty() || k.size() > 255 || !printableAscii(k)) invalid(std::string(key) + ": invalid attribute key");
    if (!v.is_string()) invalid(std::string(key) + "." + std::string(k) + " must be a string");
    if (v.get_string().size() > 1024) invalid(std::string(key) + "." + std::string(k) + " is too long");
    out[std::string(k)] = std::string(v.get_string());
  }
  return out;
}

void checkTags(const json::object& in) {
  auto tags = optArray(in, "Tags");
  if (!tags) return;
  for (const auto& t : *tags) {
    if (!t.is_object()) invalid("Tags must be a list of {Key, Value}");
    reqString(t.get_object(), "Key", 128);
    if (!t.get_object().contains("Value")) invalid("Tag Value is required");
    optString(t.get_object(), "Value", 256);
  }
}

bool validServiceName(std::string_view name) {
  if (name == ".") return true;
  if (name.empty() || name.size() > 127) return false;
  return std::all_of(name.begin(), name.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_' || c == '.'; });
}

bool validInstanceId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '/' || c == ':' || c == '.' || c == '@' || c == '-';
  });
}

std::optional<std::string> healthFilter(const json::object& in) {
  auto s = optString(in, "HealthStatus");
  if (!s) return std::nullopt;
  if (*s != "HEALTHY" && *s != "UNHEALTHY" && *s != "ALL" && *s != "HEALTHY_OR_ELSE_ALL") {
    invalid("HealthStatus must be HEALTHY, UNHEALTHY, ALL or HEALTHY_OR_ELSE_ALL");
  }
  return s;
}

// NextToken is the decimal offset into the sorted listing.
size_t pageStart(const json::object& in) {
  auto token = optString(in, "NextToken");
  if (!token || token->empty()) return 0;
  size_t n = 0;
  auto [p, ec] = std::from_chars(token->data(), token->data() + token->size(), n);
  if (ec != std::errc() || p != token->data() + token->size()) invalid("NextToken is not valid");
  return n;
}

template <class T>
json::object page(const std::vector<T>& items, const json::object& in, std::string_view list_key, int64_t default_max,
                  int64_t max_max) {
  size_t start = pageStart(in);
  size_t max = static_cast<size_t>(optInt(in, "MaxResults", 1, max_max).value_or(default_max));
  json::array list;
  for (size_t i = start; i < items.size() && list.size() < max; ++i) list.push_back(items[i]);
  json::object out{{list_key, std::move(list)}};
  if (start + max < items.size()) out["NextToken"] = std::to_string(start + max);
  return out;
}

struct Filter {
  std::string name;
  std::vector<std::string> values;
  std::string condition;
};

std::vector<Filter> filters(const json::object& in, const std::set<std::string>& names) {
  std::vector<Filter> out;
  auto list = optArray(in, "Filters");
  if (!list) return out;
  for (const auto& f : *list) {
    if (!f.is_object()) invalid("Filters must be a list of objects");
    const auto& o = f.get_object();
    Filter filter;
    filter.name = reqString(o, "Name");
    if (!names.contains(filter.name)) invalid("unsupported filter name " + filter.name);
    auto values = optArray(o, "Values");
    if (!values || values->empty()) invalid("filter Values is required");
    for (const auto& v : *values) {
      if (!v.is_string()) invalid("filter Values must be strings");
      filter.values.emplace_back(v.get_string());
    }
    filter.condition = optString(o, "Condition").value_or("EQ");
    if (filter.condition != "EQ" && filter.condition != "IN" && filter.condition != "BEGINS_WITH") {
      invalid("unsupported filter Condition " + filter.condition);
    }
    out.push_back(std::move(filter));
  }
  return out;
}

bool filterMatches(const Filter& f, std::string_view value) {
  if (f.condition == "BEGINS_WITH") return value.starts_with(f.values.front());
  if (f.condition == "EQ") return value == f.values.front();
  return std::find(f.values.begin(), f.values.end(), value) != f.values.end();
}

json::object errorBody(const ApiError& e) {
  json::object o = e.extra;
  o["__type"] = e.type;
  // The model names the member "Message"; botocore and some older clients
  // read "message". Both are sent so every client shows the text.
  o["Message"] = e.message;
  o["message"] = e.message;
  return o;
}

std::string_view idFromArn(std::string_view id_or_arn) {
  if (!id_or_arn.starts_with("arn:")) return id_or_arn;
  auto slash = id_or_arn.rfind('/');
  return slash == std::string_view::npos ? id_or_arn : id_or_arn.substr(slash + 1);
}

}  // namespace

unsigned statusForErrorType(std::string_view type) {
  if (type == "NamespaceNotFound" || type == "ServiceNotFound" || type == "InstanceNotFound" ||
      type == "OperationNotFound" || type == "CustomHealthNotFound" || type == "UnknownOperationException") {
    return 404;
  }
  if (type == "ResourceInUse" || type == "DuplicateRequest" || type == "NamespaceAlreadyExists" ||
      type == "ServiceAlreadyExists") {
    return 409;
  }
  if (type == "RequestLimitExceeded" || type == "ThrottlingException") return 429;
  if (type == "InvalidSignatureException" || type == "UnrecognizedClientException" ||
      type == "MissingAuthenticationTokenException" || type == "IncompleteSignatureException") {
    return 403;
  }
  return 400;
}

struct RegistryApi::Context {
  double now = 0;  // epoch seconds
  bool mutated = false;
};

RegistryApi::RegistryApi(RegistryOptions options, RegistryState state)
    : options_(std::move(options)), state_(std::move(state)), rng_(options_.seed) {
  if (options_.rate_limit_rps) rate_limit_.emplace(*options_.rate_limit_rps, options_.rate_limit_burst);
}

RegistryResponse RegistryApi::handle(const RegistryRequest& request, std::chrono::system_clock::time_point now) {
  RegistryResponse response;
  auto reply_error = [&](const ApiError& e) {
    response.status = statusForErrorType(e.type);
    response.error_type = e.type;
    response.body = json::serialize(errorBody(e));
    return response;
  };

  auto path = std::string_view(request.target).substr(0, request.target.find('?'));
  if (path != "/") return reply_error({"UnknownOperationException", "no such resource"});
  if (request.method != "POST") {
    auto r = reply_error({"UnknownOperationException", "only POST / is served"});
    r.status = 405;
    return r;
  }
  auto target = header(request.headers, "x-amz-target");
  if (target && target->starts_with(kTargetPrefix)) response.operation = target->substr(kTargetPrefix.size());

  if (options_.credentials) {
    aws::HttpRequestToSign to_verify{request.method, request.target, request.headers, aws::sha256Hex(request.body)};
    const auto& creds = *options_.credentials;
    aws::CredentialsLookup lookup = [&creds](std::string_view key) -> std::optional<aws::Credentials> {
      if (key == creds.access_key) return creds;
      return std::nullopt;
    };
    aws::VerifyOptions verify;
    verify.service = "servicediscovery";
    verify.now = now;
    auto status = aws::verifyRequest(to_verify, lookup, verify);
    switch (status) {
      case aws::VerifyStatus::ok: break;
      case aws::VerifyStatus::missing_authorization:
        return reply_error({"MissingAuthenticationTokenException", "Missing Authentication Token"});
      case aws::VerifyStatus::unknown_access_key:
        return reply_error({"UnrecognizedClientException", "The security token included in the request is invalid."});
      case aws::VerifyStatus::request_expired:
        return reply_error({"InvalidSignatureException", "Signature expired: the request time is too far from now"});
      case aws::VerifyStatus::signature_mismatch:
        return reply_error({"InvalidSignatureException",
                            "The request signature we calculated does not match the signature you provided. "
                            "Check your AWS Secret Access Key and signing method."});
      default:
        return reply_error({"InvalidSignatureException", "Signature not valid: " + std::string(aws::toString(status))});
    }
    response.access_key = creds.access_key;
    response.has_session_token = header(request.headers, "x-amz-security-token").has_value();
  }

  if (rate_limit_) {
    policy::TimePoint t(std::chrono::duration_cast<policy::Duration>(now.time_since_epoch()));
    if (!rate_limit_->tryAcquire(t)) return reply_error({"RequestLimitExceeded", "Rate exceeded"});
  }

  if (!target) return reply_error({"UnknownOperationException", "missing X-Amz-Target"});
  if (response.operation.empty()) {
    auto r = reply_error({"UnknownOperationException", "unknown target " + *target});
    r.status = 400;
    return r;
  }

  json::object in;
  if (!request.body.empty()) {
    boost::system::error_code ec;
    auto v = json::parse(request.body, ec);
    if (ec || !v.is_object()) {
      auto r = reply_error({"SerializationException", "the request body is not a JSON object"});
      r.status = 400;
      return r;
    }
    in = std::move(v.get_object());
  }

  Context ctx;
  ctx.now = std::chrono::duration<double>(now.time_since_epoch()).count();
  ctx.now = static_cast<double>(static_cast<int64_t>(ctx.now * 1000)) / 1000;  // millisecond grain
  try {
    auto out = dispatch(response.operation, in, ctx);
    response.mutated = ctx.mutated;
    if (!out.empty() || response.operation != "UpdateInstanceCustomHealthStatus") {
      response.body = json::serialize(out);
    }
    return response;
  } catch (const ApiError& e) {
    response.mutated = ctx.mutated;
    return reply_error(e);
  }
}

json::object RegistryApi::dispatch(std::string_view op, const json::object& in, Context& ctx) {
  if (op == "CreateHttpNamespace") return createHttpNamespace(in, ctx);
  if (op == "CreatePrivateDnsNamespace") return createPrivateDnsNamespace(in, ctx);
  if (op == "DeleteNamespace") return deleteNamespace(in, ctx);
  if (op == "GetOperation") return getOperation(in);
  if (op == "ListNamespaces") return listNamespaces(in);
  if (op == "GetNamespace") return getNamespace(in);
  if (op == "CreateService") return createService(in, ctx);
  if (op == "GetService") return getService(in);
  if (op == "DeleteService") return deleteService(in, ctx);
  if (op == "ListServices") return listServices(in);
  if (op == "RegisterInstance") return registerInstance(in, ctx);
  if (op == "DeregisterInstance") return deregisterInstance(in, ctx);
  if (op == "GetInstance") return getInstance(in);
  if (op == "ListInstances") return listInstances(in);
  if (op == "DiscoverInstances") return discoverInstances(in, false);
  if (op == "DiscoverInstancesRevision") return discoverInstances(in, true);
  if (op == "GetInstancesHealthStatus") return getInstancesHealthStatus(in);
  if (op == "UpdateInstanceCustomHealthStatus") return updateInstanceCustomHealthStatus(in, ctx);
  fail("UnknownOperationException", "operation " + std::string(op) + " is not supported by hawser registry");
}

// ---------------------------------------------------------------- helpers

std::string RegistryApi::newId(std::string_view prefix, size_t length) {
  static constexpr std::string_view kAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  for (;;) {
    std::string id(prefix);
    std::uniform_int_distribution<size_t> pick(0, kAlphabet.size() - 1);
    for (size_t i = 0; i < length; ++i) id.push_back(kAlphabet[pick(rng_)]);
    if (!state_.namespaces.contains(id) && !state_.services.contains(id) && !state_.operations.contains(id)) {
      return id;
    }
  }
}

std::string RegistryApi::addOperation(std::string type, std::map<std::string, std::string> targets,
                                      std::string creator_request_id, double now) {
  Operation op;
  op.id = newId("", 32) + "-" + newId("", 8);
  op.type = std::move(type);
  op.status = "SUCCESS";
  op.create_date = now;
  op.targets = std::move(targets);
  op.creator_request_id = std::move(creator_request_id);
  state_.operation_order.push_back(op.id);
  auto id = op.id;
  state_.operations[id] = std::move(op);
  while (state_.operation_order.size() > RegistryState::kMaxOperations) {
    state_.operations.erase(state_.operation_order.front());
    state_.operation_order.pop_front();
  }
  return id;
}

Namespace& RegistryApi::findNamespaceById(std::string_view id_or_arn) {
  auto it = state_.namespaces.find(std::string(idFromArn(id_or_arn)));
  if (it == state_.namespaces.end()) fail("NamespaceNotFound", "Namespace not found: " + std::string(id_or_arn));
  return it->second;
}

Service& RegistryApi::findService(std::string_view id_or_arn) {
  auto it = state_.services.find(std::string(idFromArn(id_or_arn)));
  if (it == state_.services.end()) fail("ServiceNotFound", "Service not found: " + std::string(id_or_arn));
  return it->second;
}

namespace {

json::object namespaceSummary(const Namespace& ns, const RegistryState& state, const std::string& account, bool full) {
  int64_t services = 0;
  for (const auto& [id, s] : state.services) services += s.namespace_id == ns.id;
  json::object props;
  if (ns.type == "HTTP") {
    props["HttpProperties"] = json::object{{"HttpName", ns.name}};
  } else {
    json::object dns{{"HostedZoneId", ns.hosted_zone_id}};
    if (ns.soa_ttl) dns["SOA"] = json::object{{"TTL", *ns.soa_ttl}};
    props["DnsProperties"] = std::move(dns);
    props["HttpProperties"] = json::object{{"HttpName", ns.name}};
  }
  json::object o{{"Id", ns.id},
                 {"Arn", ns.arn},
                 {"ResourceOwner", account},
                 {"Name", ns.name},
                 {"Type", ns.type},
                 {"ServiceCount", services},
                 {"Properties", std::move(props)},
                 {"CreateDate", ns.create_date}};
  if (!ns.description.empty()) o["Description"] = ns.description;
  if (full && !ns.creator_request_id.empty()) o["CreatorRequestId"] = ns.creator_request_id;
  return o;
}

json::object serviceJson(const Service& s, const std::string& account, bool summary) {
  json::object o{{"Id", s.id},
                 {"Arn", s.arn},
                 {"ResourceOwner", account},
                 {"Name", s.name},
                 {"Type", s.type},
                 {"InstanceCount", static_cast<int64_t>(s.instances.size())},
                 {"CreateDate", s.create_date},
                 {"CreatedByAccount", account}};
  if (!summary) o["NamespaceId"] = s.namespace_id;
  if (!s.description.empty()) o["Description"] = s.description;
  if (s.dns_config) o["DnsConfig"] = *s.dns_config;
  if (s.health_check_config) o["HealthCheckConfig"] = *s.health_check_config;
  if (s.health_check_custom_config) o["HealthCheckCustomConfig"] = *s.health_check_custom_config;
  if (!summary && !s.creator_request_id.empty()) o["CreatorRequestId"] = s.creator_request_id;
  return o;
}

json::object attributesJson(const std::map<std::string, std::string>& attrs) {
  json::object o;
  for (const auto& [k, v] : attrs) o[k] = v;
  return o;
}

bool hasHealthCheck(const Service& s) {
  return s.health_check_config.has_value() || s.health_check_custom_config.has_value();
}

}  // namespace

// ---------------------------------------------------------------- namespaces

json::object RegistryApi::createHttpNamespace(const json::object& in, Context& ctx) {
  Namespace ns;
  ns.name = reqString(in, "Name", 1024);
  if (!printableAscii(ns.name) || ns.name.starts_with("arn:")) invalid("Name is not a valid namespace name");
  ns.type = "HTTP";
  ns.description = optString(in, "Description", 1024).value_or("");
  ns.creator_request_id = optString(in, "CreatorRequestId", 64).value_or("");
  checkTags(in);
  return createNamespace(std::move(ns), ctx);
}

json::object RegistryApi::createPrivateDnsNamespace(const json::object& in, Context& ctx) {
  Namespace ns;
  ns.name = reqString(in, "Name", 253);
  if (!printableAscii(ns.name) || ns.name.starts_with("arn:")) invalid("Name is not a valid DNS name");
  ns.type = "DNS_PRIVATE";
  ns.vpc = reqString(in, "Vpc", 64);
  ns.description = optString(in, "Description", 1024).value_or("");
  ns.creator_request_id = optString(in, "CreatorRequestId", 64).value_or("");
  if (auto props = optObject(in, "Properties")) {
    auto dns = optObject(*props, "DnsProperties");
    if (!dns) invalid("Properties.DnsProperties is required");
    auto soa = optObject(*dns, "SOA");
    if (!soa) invalid("Properties.DnsProperties.SOA is required");
    ns.soa_ttl = optInt(*soa, "TTL", 0, 2147483647);
    if (!ns.soa_ttl) invalid("Properties.DnsProperties.SOA.TTL is required");
  }
  checkTags(in);
  return createNamespace(std::move(ns), ctx);
}

json::object RegistryApi::createNamespace(Namespace ns, Context& ctx) {
  // A retry with the same CreatorRequestId gets the first answer back; the
  // same id for a different request is a DuplicateRequest.
  if (!ns.creator_request_id.empty()) {
    for (const auto& [id, op] : state_.operations) {
      if (op.type != "CREATE_NAMESPACE" || op.creator_request_id != ns.creator_request_id) continue;
      auto target = op.targets.find("NAMESPACE");
      auto existing = target == op.targets.end() ? state_.namespaces.end() : state_.namespaces.find(target->second);
      if (existing != state_.namespaces.end() && existing->second.name == ns.name && existing->second.type == ns.type) {
        return {{"OperationId", op.id}};
      }
      fail("DuplicateRequest", "CreatorRequestId " + ns.creator_request_id + " was used for another request",
           {{"DuplicateOperationId", op.id}});
    }
  }
  for (const auto& [id, existing] : state_.namespaces) {
    if (existing.name == ns.name) {
      fail("NamespaceAlreadyExists", "Namespace " + ns.name + " already exists",
           {{"NamespaceId", existing.id}, {"CreatorRequestId", existing.creator_request_id}});
    }
  }
  ns.id = newId("ns-", 16);
  ns.arn = "arn:aws:servicediscovery:" + options_.region + ":" + options_.account + ":namespace/" + ns.id;
  ns.create_date = ctx.now;
  if (ns.type == "DNS_PRIVATE") {
    ns.hosted_zone_id = "Z" + newId("", 13);
    std::transform(ns.hosted_zone_id.begin(), ns.hosted_zone_id.end(), ns.hosted_zone_id.begin(),
                   [](unsigned char c) { return std::toupper(c); });
  }
  auto op = addOperation("CREATE_NAMESPACE", {{"NAMESPACE", ns.id}}, ns.creator_request_id, ctx.now);
  state_.namespaces[ns.id] = std::move(ns);
  ctx.mutated = true;
  return {{"OperationId", op}};
}

json::object RegistryApi::deleteNamespace(const json::object& in, Context& ctx) {
  auto& ns = findNamespaceById(reqString(in, "Id", 255));
  for (const auto& [id, s] : state_.services) {
    if (s.namespace_id == ns.id) fail("ResourceInUse", "Namespace " + ns.id + " still has services");
  }
  auto id = ns.id;
  auto op = addOperation("DELETE_NAMESPACE", {{"NAMESPACE", id}}, "", ctx.now);
  state_.namespaces.erase(id);
  ctx.mutated = true;
  return {{"OperationId", op}};
}

json::object RegistryApi::getOperation(const json::object& in) {
  auto id = reqString(in, "OperationId", 255);
  auto it = state_.operations.find(id);
  if (it == state_.operations.end()) fail("OperationNotFound", "Operation not found: " + id);
  const auto& op = it->second;
  json::object targets;
  for (const auto& [k, v] : op.targets) targets[k] = v;
  return {{"Operation", json::object{{"Id", op.id},
                                     {"OwnerAccount", options_.account},
                                     {"Type", op.type},
                                     {"Status", op.status},
                                     {"CreateDate", op.create_date},
                                     {"UpdateDate", op.create_date},
                                     {"Targets", std::move(targets)}}}};
}

json::object RegistryApi::listNamespaces(const json::object& in) {
  auto fs = filters(in, {"TYPE", "NAME", "HTTP_NAME", "RESOURCE_OWNER"});
  std::vector<const Namespace*> sorted;
  for (const auto& [id, ns] : state_.namespaces) sorted.push_back(&ns);
  std::sort(sorted.begin(), sorted.end(),
            [](auto* a, auto* b) { return std::tie(a->create_date, a->id) < std::tie(b->create_date, b->id); });
  std::vector<json::object> items;
  for (const auto* ns : sorted) {
    bool ok = true;
    for (const auto& f : fs) {
      if (f.name == "TYPE")
        ok &= filterMatches(f, ns->type);
      else if (f.name == "RESOURCE_OWNER")
        ok &= filterMatches(f, "SELF");
      else
        ok &= filterMatches(f, ns->name);
    }
    if (ok) items.push_back(namespaceSummary(*ns, state_, options_.account, false));
  }
  return page(items, in, "Namespaces", 100, 100);
}

json::object RegistryApi::getNamespace(const json::object& in) {
  const auto& ns = findNamespaceById(reqString(in, "Id", 255));
  return {{"Namespace", namespaceSummary(ns, state_, options_.account, true)}};
}

// ---------------------------------------------------------------- services

json::object RegistryApi::createService(const json::object& in, Context& ctx) {
  Service s;
  s.name = reqString(in, "Name", 127);
  if (!validServiceName(s.name)) invalid("Name is not a valid service name");
  s.description = optString(in, "Description", 1024).value_or("");
  s.creator_request_id = optString(in, "CreatorRequestId", 64).value_or("");
  s.dns_config = optObject(in, "DnsConfig");
  s.health_check_config = optObject(in, "HealthCheckConfig");
  s.health_check_custom_config = optObject(in, "HealthCheckCustomConfig");
  checkTags(in);
  if (s.health_check_config && s.health_check_custom_config) {
    invalid("HealthCheckConfig and HealthCheckCustomConfig are mutually exclusive");
  }
  if (s.health_check_config) {
    auto type = reqString(*s.health_check_config, "Type");
    if (type != "HTTP" && type != "HTTPS" && type != "TCP")
      invalid("HealthCheckConfig.Type must be HTTP, HTTPS or TCP");
  }
  if (s.health_check_custom_config) optInt(*s.health_check_custom_config, "FailureThreshold", 1, 10);
  auto ns_id = optString(in, "NamespaceId", 255).value_or("");
  if (s.dns_config) {
    if (!optArray(*s.dns_config, "DnsRecords")) invalid("DnsConfig.DnsRecords is required");
    if (ns_id.empty()) ns_id = optString(*s.dns_config, "NamespaceId", 64).value_or("");
  }
  if (ns_id.empty()) invalid("NamespaceId is required");
  const auto& ns = findNamespaceById(ns_id);
  s.namespace_id = ns.id;
  auto type = optString(in, "Type");
  if (type && *type != "HTTP") invalid("Type must be HTTP");
  if (type)
    s.type = "HTTP";
  else if (ns.type == "HTTP")
    s.type = "HTTP";
  else
    s.type = s.dns_config ? "DNS_HTTP" : "HTTP";
  if (ns.type == "HTTP" && s.dns_config) invalid("DnsConfig is not allowed in an HTTP namespace");

  for (const auto& [id, existing] : state_.services) {
    if (existing.namespace_id != s.namespace_id || existing.name != s.name) continue;
    if (!s.creator_request_id.empty() && s.creator_request_id == existing.creator_request_id) {
      return {{"Service", serviceJson(existing, options_.account, false)}};
    }
    fail("ServiceAlreadyExists", "Service " + s.name + " already exists in namespace " + ns.id,
         {{"ServiceId", existing.id}, {"ServiceArn", existing.arn}, {"CreatorRequestId", existing.creator_request_id}});
  }
  s.id = newId("srv-", 16);
  s.arn = "arn:aws:servicediscovery:" + options_.region + ":" + options_.account + ":service/" + s.id;
  s.create_date = ctx.now;
  auto id = s.id;
  auto& stored = state_.services[id] = std::move(s);
  ctx.mutated = true;
  return {{"Service", serviceJson(stored, options_.account, false)}};
}

json::object RegistryApi::getService(const json::object& in) {
  return {{"Service", serviceJson(findService(reqString(in, "Id", 255)), options_.account, false)}};
}

json::object RegistryApi::deleteService(const json::object& in, Context& ctx) {
  auto& s = findService(reqString(in, "Id", 255));
  if (!s.instances.empty()) fail("ResourceInUse", "Service " + s.id + " still has registered instances");
  state_.services.erase(s.id);
  ctx.mutated = true;
  return {};
}

json::object RegistryApi::listServices(const json::object& in) {
  auto fs = filters(in, {"NAMESPACE_ID", "RESOURCE_OWNER"});
  std::vector<const Service*> sorted;
  for (const auto& [id, s] : state_.services) sorted.push_back(&s);
  std::sort(sorted.begin(), sorted.end(),
            [](auto* a, auto* b) { return std::tie(a->create_date, a->id) < std::tie(b->create_date, b->id); });
  std::vector<json::object> items;
  for (const auto* s : sorted) {
    bool ok = true;
    for (const auto& f : fs) {
      if (f.name == "NAMESPACE_ID") {
        Filter ids = f;
        for (auto& v : ids.values) v = std::string(idFromArn(v));
        ok &= filterMatches(ids, s->namespace_id);
      } else {
        ok &= filterMatches(f, "SELF");
      }
    }
    if (ok) items.push_back(serviceJson(*s, options_.account, true));
  }
  return page(items, in, "Services", 100, 100);
}

// ---------------------------------------------------------------- instances

json::object RegistryApi::registerInstance(const json::object& in, Context& ctx) {
  auto& s = findService(reqString(in, "ServiceId", 255));
  auto instance_id = reqString(in, "InstanceId", 64);
  if (!validInstanceId(instance_id)) invalid("InstanceId is not valid");
  if (!memberOf(in, "Attributes")) invalid("Attributes is required");
  auto attributes = optAttributes(in, "Attributes");
  if (attributes.size() > 30) invalid("at most 30 attributes are allowed");
  auto creator = optString(in, "CreatorRequestId", 64).value_or("");
  if (auto port = attributes.find("AWS_INSTANCE_PORT"); port != attributes.end()) {
    int p = 0;
    auto [ptr, ec] = std::from_chars(port->second.data(), port->second.data() + port->second.size(), p);
    if (ec != std::errc() || ptr != port->second.data() + port->second.size() || p < 1 || p > 65535) {
      invalid("AWS_INSTANCE_PORT must be an integer between 1 and 65535");
    }
  }
  if (auto ip = attributes.find("AWS_INSTANCE_IPV4"); ip != attributes.end()) {
    if (!boost::urls::grammar::parse(ip->second, boost::urls::ipv4_address_rule)) {
      invalid("AWS_INSTANCE_IPV4 must be an IPv4 address");
    }
  }
  std::optional<std::string> init_health;
  if (auto h = attributes.find("AWS_INIT_HEALTH_STATUS"); h != attributes.end()) {
    if (h->second != "HEALTHY" && h->second != "UNHEALTHY")
      invalid("AWS_INIT_HEALTH_STATUS must be HEALTHY or UNHEALTHY");
    if (!s.health_check_custom_config) invalid("AWS_INIT_HEALTH_STATUS needs a custom health check");
    init_health = h->second;
  }
  if (!creator.empty()) {
    for (const auto& [id, op] : state_.operations) {
      if (op.type != "REGISTER_INSTANCE" || op.creator_request_id != creator) continue;
      auto target = op.targets.find("INSTANCE");
      auto svc = op.targets.find("SERVICE");
      if (target != op.targets.end() && target->second == instance_id && svc != op.targets.end() &&
          svc->second == s.id) {
        return {{"OperationId", op.id}};  // a retry of the same registration
      }
      fail("DuplicateRequest", "CreatorRequestId " + creator + " was used for another request",
           {{"DuplicateOperationId", op.id}});
    }
  }
  auto& inst = s.instances[instance_id];
  bool is_new = inst.id.empty();
  inst.id = instance_id;
  inst.attributes = std::move(attributes);
  inst.creator_request_id = creator;
  if (init_health)
    inst.health = *init_health;
  else if (is_new)
    inst.health = "HEALTHY";
  ++s.revision;
  ctx.mutated = true;
  auto op = addOperation("REGISTER_INSTANCE", {{"INSTANCE", instance_id}, {"SERVICE", s.id}}, creator, ctx.now);
  return {{"OperationId", op}};
}

json::object RegistryApi::deregisterInstance(const json::object& in, Context& ctx) {
  auto& s = findService(reqString(in, "ServiceId", 255));
  auto instance_id = reqString(in, "InstanceId", 64);
  if (!s.instances.erase(instance_id)) fail("InstanceNotFound", "Instance not found: " + instance_id);
  ++s.revision;
  ctx.mutated = true;
  auto op = addOperation("DEREGISTER_INSTANCE", {{"INSTANCE", instance_id}, {"SERVICE", s.id}}, "", ctx.now);
  return {{"OperationId", op}};
}

json::object RegistryApi::getInstance(const json::object& in) {
  auto& s = findService(reqString(in, "ServiceId", 255));
  auto instance_id = reqString(in, "InstanceId", 64);
  auto it = s.instances.find(instance_id);
  if (it == s.instances.end()) fail("InstanceNotFound", "Instance not found: " + instance_id);
  json::object inst{{"Id", it->second.id}, {"Attributes", attributesJson(it->second.attributes)}};
  if (!it->second.creator_request_id.empty()) inst["CreatorRequestId"] = it->second.creator_request_id;
  return {{"ResourceOwner", options_.account}, {"Instance", std::move(inst)}};
}

json::object RegistryApi::listInstances(const json::object& in) {
  auto& s = findService(reqString(in, "ServiceId", 255));
  std::vector<json::object> items;
  for (const auto& [id, inst] : s.instances) {
    items.push_back(json::object{{"Id", id}, {"Attributes", attributesJson(inst.attributes)}});
  }
  auto out = page(items, in, "Instances", 100, 100);
  out["ResourceOwner"] = options_.account;
  return out;
}

json::object RegistryApi::discoverInstances(const json::object& in, bool revision_only) {
  auto ns_name = reqString(in, "NamespaceName", 1024);
  auto svc_name = reqString(in, "ServiceName", 127);
  if (auto owner = optString(in, "OwnerAccount", 12); owner && *owner != options_.account) {
    fail("NamespaceNotFound", "Namespace not found: " + ns_name + " (owner " + *owner + ")");
  }
  std::optional<int64_t> max_results;
  std::optional<std::string> health;
  std::map<std::string, std::string> query, optional;
  if (!revision_only) {
    max_results = optInt(in, "MaxResults", 1, 1000);
    health = healthFilter(in);
    query = optAttributes(in, "QueryParameters");
    optional = optAttributes(in, "OptionalParameters");
  }
  const Namespace* ns = nullptr;
  for (const auto& [id, n] : state_.namespaces) {
    if (n.name == ns_name) ns = &n;
  }
  if (!ns) fail("NamespaceNotFound", "Namespace not found: " + ns_name);
  const Service* svc = nullptr;
  for (const auto& [id, s] : state_.services) {
    if (s.namespace_id == ns->id && s.name == svc_name) svc = &s;
  }
  if (!svc) fail("ServiceNotFound", "Service not found: " + svc_name + " in namespace " + ns_name);
  if (revision_only) return {{"InstancesRevision", svc->revision}};

  auto matches = [](const Instance& inst, const std::map<std::string, std::string>& params) {
    for (const auto& [k, v] : params) {
      auto it = inst.attributes.find(k);
      if (it == inst.attributes.end() || it->second != v) return false;
    }
    return true;
  };
  std::vector<const Instance*> selected;
  for (const auto& [id, inst] : svc->instances) {
    if (matches(inst, query)) selected.push_back(&inst);
  }
  if (!optional.empty()) {
    std::vector<const Instance*> preferred;
    for (const auto* inst : selected) {
      if (matches(*inst, optional)) preferred.push_back(inst);
    }
    if (!preferred.empty()) selected = std::move(preferred);
  }
  // The filter is ignored for services without a health check: all are returned.
  std::string filter = health.value_or("HEALTHY");
  if (hasHealthCheck(*svc) && filter != "ALL") {
    auto with = [&](std::string_view status) {
      std::vector<const Instance*> out;
      for (const auto* inst : selected) {
        if (inst->health == status) out.push_back(inst);
      }
      return out;
    };
    if (filter == "HEALTHY")
      selected = with("HEALTHY");
    else if (filter == "UNHEALTHY")
      selected = with("UNHEALTHY");
    else if (auto healthy = with("HEALTHY"); !healthy.empty())
      selected = std::move(healthy);
  }
  if (selected.size() > static_cast<size_t>(max_results.value_or(100))) selected.resize(max_results.value_or(100));

  json::array instances;
  for (const auto* inst : selected) {
    instances.push_back(json::object{{"InstanceId", inst->id},
                                     {"NamespaceName", ns->name},
                                     {"ServiceName", svc->name},
                                     {"HealthStatus", inst->health},
                                     {"Attributes", attributesJson(inst->attributes)}});
  }
  return {{"Instances", std::move(instances)}, {"InstancesRevision", svc->revision}};
}

json::object RegistryApi::getInstancesHealthStatus(const json::object& in) {
  auto& s = findService(reqString(in, "ServiceId", 255));
  std::vector<std::string> ids;
  if (auto list = optArray(in, "Instances")) {
    if (list->empty()) invalid("Instances must not be empty");
    for (const auto& v : *list) {
      if (!v.is_string()) invalid("Instances must be a list of strings");
      std::string id(v.get_string());
      if (!s.instances.contains(id)) fail("InstanceNotFound", "Instance not found: " + id);
      ids.push_back(std::move(id));
    }
  } else {
    for (const auto& [id, inst] : s.instances) ids.push_back(id);
  }
  size_t start = pageStart(in);
  size_t max = static_cast<size_t>(optInt(in, "MaxResults", 1, 100).value_or(100));
  json::object status;
  for (size_t i = start; i < ids.size() && status.size() < max; ++i) {
    status[ids[i]] = s.instances.at(ids[i]).health;
  }
  json::object out{{"Status", std::move(status)}};
  if (start + max < ids.size()) out["NextToken"] = std::to_string(start + max);
  return out;
}

json::object RegistryApi::updateInstanceCustomHealthStatus(const json::object& in, Context& ctx) {
  auto& s = findService(reqString(in, "ServiceId", 255));
  auto instance_id = reqString(in, "InstanceId", 64);
  auto status = reqString(in, "Status");
  if (status != "HEALTHY" && status != "UNHEALTHY") invalid("Status must be HEALTHY or UNHEALTHY");
  auto it = s.instances.find(instance_id);
  if (it == s.instances.end()) fail("InstanceNotFound", "Instance not found: " + instance_id);
  if (!s.health_check_custom_config) {
    fail("CustomHealthNotFound", "Service " + s.id + " has no custom health check (HealthCheckCustomConfig)");
  }
  if (it->second.health != status) {
    it->second.health = status;  // deliberately no revision bump, as in the real API
    ctx.mutated = true;
  }
  return {};
}

}  // namespace hawser::discovery::registry
