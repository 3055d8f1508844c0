#include "discovery/endpoint.h"

#include <algorithm>
#include <charconv>
#include <unordered_map>

namespace hawser::discovery {

static std::string makeKey(const std::string& host, uint16_t port) {
  return host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port)
                                             : host + ":" + std::to_string(port);
}

static uint32_t weightOf(const std::map<std::string, std::string>& attrs) {
  for (const char* name : {"weight", "srv_weight"}) {
    auto it = attrs.find(name);
    if (it == attrs.end()) continue;
    uint32_t w = 0;
    auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), w);
    if (ec == std::errc() && end == it->second.data() + it->second.size()) return std::clamp<uint32_t>(w, 1, 10000);
  }
  return 1;
}

Endpoint::Endpoint(std::string h, uint16_t p, std::map<std::string, std::string> attrs)
    : host(std::move(h)), port(p), key(makeKey(host, p)), attributes(std::move(attrs)), weight(weightOf(attributes)) {
  if (auto it = attributes.find("AVAILABILITY_ZONE"); it != attributes.end()) zone = it->second;
}

std::shared_ptr<const EndpointSet> mergeEndpoints(const EndpointSet* previous, const std::vector<EndpointSpec>& specs) {
  std::unordered_map<std::string, EndpointPtr> old;
  if (previous) {
    for (const auto& e : *previous) old.emplace(e->key, e);
  }
  auto set = std::make_shared<EndpointSet>();
  std::unordered_map<std::string, bool> seen;
  for (const auto& s : specs) {
    auto key = makeKey(s.host, s.port);
    if (!seen.emplace(key, true).second) continue;
    auto it = old.find(key);
    if (it != old.end() && it->second->attributes == s.attributes) {
      set->push_back(it->second);
    } else {
      set->push_back(std::make_shared<Endpoint>(s.host, s.port, s.attributes));
    }
  }
  return set;
}

std::shared_ptr<const EndpointSet> mergeEndpoints(const EndpointSet* previous,
                                                  std::vector<std::pair<std::string, uint16_t>> addresses) {
  std::unordered_map<std::string, EndpointPtr> old;
  if (previous) {
    for (const auto& e : *previous) old.emplace(e->key, e);
  }
  auto set = std::make_shared<EndpointSet>();
  for (auto& [host, port] : addresses) {
    auto key = makeKey(host, port);
    if (auto it = old.find(key); it != old.end()) {
      set->push_back(it->second);
      old.erase(it);  // a duplicate address appears once
    } else {
      bool dup = false;
      for (const auto& e : *set) dup |= e->key == key;
      if (!dup) set->push_back(std::make_shared<Endpoint>(host, port));
    }
  }
  return set;
}

}  // namespace hawser::discovery
