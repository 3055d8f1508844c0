#include "discovery/registry/registry_state.h"

#include <stdexcept>

#include <boost/json/value.hpp>

namespace hawser::discovery::registry {
namespace json = boost::json;
namespace {

json::object stringMap(const std::map<std::string, std::string>& m) {
  json::object o;
  for (const auto& [k, v] : m) o[k] = v;
  return o;
}

const json::value& member(const json::object& o, std::string_view key, std::string_view where) {
  auto* v = o.if_contains(key);
  if (!v) throw std::runtime_error(std::string(where) + ": missing '" + std::string(key) + "'");
  return *v;
}

std::string str(const json::object& o, std::string_view key, std::string_view where) {
  const auto& v = member(o, key, where);
  if (!v.is_string()) throw std::runtime_error(std::string(where) + "." + std::string(key) + ": not a string");
  return std::string(v.get_string());
}

std::string optStr(const json::object& o, std::string_view key, std::string_view where) {
  if (!o.contains(key)) return {};
  return str(o, key, where);
}

double num(const json::object& o, std::string_view key, std::string_view where) {
  if (!o.contains(key)) return 0;
  const auto& v = o.at(key);
  if (v.is_double()) return v.get_double();
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  throw std::runtime_error(std::string(where) + "." + std::string(key) + ": not a number");
}

const json::object& obj(const json::value& v, std::string_view where) {
  if (!v.is_object()) throw std::runtime_error(std::string(where) + ": not an object");
  return v.get_object();
}

std::map<std::string, std::string> strMap(const json::object& o, std::string_view key, std::string_view where) {
  std::map<std::string, std::string> out;
  if (!o.contains(key)) return out;
  for (const auto& [k, v] : obj(o.at(key), where)) {
    if (!v.is_string()) throw std::runtime_error(std::string(where) + "." + std::string(k) + ": not a string");
    out[std::string(k)] = std::string(v.get_string());
  }
  return out;
}

std::optional<json::object> optObj(const json::object& o, std::string_view key, std::string_view where) {
  if (!o.contains(key)) return std::nullopt;
  return obj(o.at(key), std::string(where) + "." + std::string(key));
}

}  // namespace

json::object toJson(const RegistryState& state) {
  json::array namespaces;
  for (const auto& [id, ns] : state.namespaces) {
    json::object o{{"Id", ns.id},
                   {"Arn", ns.arn},
                   {"Name", ns.name},
                   {"Type", ns.type},
                   {"Description", ns.description},
                   {"CreatorRequestId", ns.creator_request_id},
                   {"Vpc", ns.vpc},
                   {"HostedZoneId", ns.hosted_zone_id},
                   {"CreateDate", ns.create_date}};
    if (ns.soa_ttl) o["SoaTtl"] = *ns.soa_ttl;
    namespaces.push_back(std::move(o));
  }
  json::array services;
  for (const auto& [id, s] : state.services) {
    json::array instances;
    for (const auto& [iid, inst] : s.instances) {
      instances.push_back(json::object{{"Id", inst.id},
                                       {"Attributes", stringMap(inst.attributes)},
                                       {"Health", inst.health},
                                       {"CreatorRequestId", inst.creator_request_id}});
    }
    json::object o{{"Id", s.id},
                   {"Arn", s.arn},
                   {"Name", s.name},
                   {"NamespaceId", s.namespace_id},
                   {"Description", s.description},
                   {"Type", s.type},
                   {"CreatorRequestId", s.creator_request_id},
                   {"CreateDate", s.create_date},
                   {"Revision", s.revision},
                   {"Instances", std::move(instances)}};
    if (s.dns_config) o["DnsConfig"] = *s.dns_config;
    if (s.health_check_config) o["HealthCheckConfig"] = *s.health_check_config;
    if (s.health_check_custom_config) o["HealthCheckCustomConfig"] = *s.health_check_custom_config;
    services.push_back(std::move(o));
  }
  json::array operations;
  for (const auto& id : state.operation_order) {
    auto it = state.operations.find(id);
    if (it == state.operations.end()) continue;
    const auto& op = it->second;
    operations.push_back(json::object{{"Id", op.id},
                                      {"Type", op.type},
                                      {"Status", op.status},
                                      {"CreateDate", op.create_date},
                                      {"Targets", stringMap(op.targets)},
                                      {"CreatorRequestId", op.creator_request_id}});
  }
  return json::object{{"Version", 1},
                      {"Namespaces", std::move(namespaces)},
                      {"Services", std::move(services)},
                      {"Operations", std::move(operations)}};
}

RegistryState stateFromJson(const json::value& doc) {
  RegistryState state;
  const auto& root = obj(doc, "state");
  auto list = [&](std::string_view key) -> const json::array& {
    static const json::array empty;
    if (!root.contains(key)) return empty;
    const auto& v = root.at(key);
    if (!v.is_array()) throw std::runtime_error("state." + std::string(key) + ": not a list");
    return v.get_array();
  };
  for (const auto& v : list("Namespaces")) {
    const auto& o = obj(v, "Namespaces[]");
    Namespace ns;
    ns.id = str(o, "Id", "namespace");
    ns.arn = optStr(o, "Arn", "namespace");
    ns.name = str(o, "Name", "namespace");
    ns.type = str(o, "Type", "namespace");
    ns.description = optStr(o, "Description", "namespace");
    ns.creator_request_id = optStr(o, "CreatorRequestId", "namespace");
    ns.vpc = optStr(o, "Vpc", "namespace");
    ns.hosted_zone_id = optStr(o, "HostedZoneId", "namespace");
    ns.create_date = num(o, "CreateDate", "namespace");
    if (o.contains("SoaTtl")) ns.soa_ttl = static_cast<int64_t>(num(o, "SoaTtl", "namespace"));
    state.namespaces[ns.id] = std::move(ns);
  }
  for (const auto& v : list("Services")) {
    const auto& o = obj(v, "Services[]");
    Service s;
    s.id = str(o, "Id", "service");
    s.arn = optStr(o, "Arn", "service");
    s.name = str(o, "Name", "service");
    s.namespace_id = str(o, "NamespaceId", "service");
    if (!state.namespaces.contains(s.namespace_id)) {
      throw std::runtime_error("service " + s.id + ": unknown namespace " + s.namespace_id);
    }
    s.description = optStr(o, "Description", "service");
    s.type = optStr(o, "Type", "service");
    s.creator_request_id = optStr(o, "CreatorRequestId", "service");
    s.create_date = num(o, "CreateDate", "service");
    s.revision = static_cast<int64_t>(num(o, "Revision", "service"));
    s.dns_config = optObj(o, "DnsConfig", "service");
    s.health_check_config = optObj(o, "HealthCheckConfig", "service");
    s.health_check_custom_config = optObj(o, "HealthCheckCustomConfig", "service");
    if (o.contains("Instances")) {
      const auto& arr = o.at("Instances");
      if (!arr.is_array()) throw std::runtime_error("service.Instances: not a list");
      for (const auto& iv : arr.get_array()) {
        const auto& io = obj(iv, "Instances[]");
        Instance inst;
        inst.id = str(io, "Id", "instance");
        inst.attributes = strMap(io, "Attributes", "instance.Attributes");
        inst.health = optStr(io, "Health", "instance");
        if (inst.health != "UNHEALTHY") inst.health = "HEALTHY";
        inst.creator_request_id = optStr(io, "CreatorRequestId", "instance");
        s.instances[inst.id] = std::move(inst);
      }
    }
    state.services[s.id] = std::move(s);
  }
  for (const auto& v : list("Operations")) {
    const auto& o = obj(v, "Operations[]");
    Operation op;
    op.id = str(o, "Id", "operation");
    op.type = str(o, "Type", "operation");
    op.status = optStr(o, "Status", "operation");
    op.create_date = num(o, "CreateDate", "operation");
    op.targets = strMap(o, "Targets", "operation.Targets");
    op.creator_request_id = optStr(o, "CreatorRequestId", "operation");
    state.operation_order.push_back(op.id);
    state.operations[op.id] = std::move(op);
  }
  return state;
}

}  // namespace hawser::discovery::registry
