#include "policy/route_split.h"

#include <algorithm>
#include <utility>

namespace hawser::policy {

std::string defaultSubsetName(const Attributes& selector) {
  if (selector.size() == 1) return selector.begin()->second;
  std::string name;
  for (const auto& [key, value] : selector) {
    if (!name.empty()) name += ',';
    name += key;
    name += '=';
    name += value;
  }
  return name;
}

bool subsetMatches(const Attributes& selector, const Attributes& endpoint) {
  for (const auto& [key, value] : selector) {
    const auto it = endpoint.find(key);
    if (it == endpoint.end() || it->second != value) return false;
  }
  return true;
}

RouteSplit::RouteSplit(std::vector<Subset> subsets) : subsets_(std::move(subsets)) {
  cumulative_.reserve(subsets_.size());
  std::uint64_t sum = 0;
  for (Subset& subset : subsets_) {
    if (subset.name.empty()) subset.name = defaultSubsetName(subset.selector);
    sum += subset.weight;
    cumulative_.push_back(sum);
  }
}

std::optional<std::size_t> RouteSplit::pick(Random& rng) const {
  const std::uint64_t total = totalWeight();
  if (total == 0) return std::nullopt;
  const std::uint64_t point = uniformBelow(rng, total);
  // The first subset whose running sum passes the point; zero-weight subsets
  // share their predecessor's sum and are never chosen.
  const auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), point);
  return static_cast<std::size_t>(it - cumulative_.begin());
}

std::optional<std::size_t> RouteSplit::find(std::string_view name) const {
  if (name.empty()) return std::nullopt;
  for (std::size_t i = 0; i < subsets_.size(); ++i) {
    if (subsets_[i].name == name) return i;
  }
  return std::nullopt;
}

std::optional<std::size_t> RouteSplit::choose(std::string_view override_value, Random& rng) const {
  if (const auto pinned = find(override_value)) return pinned;
  return pick(rng);
}

void RouteSplit::members(std::size_t subset, std::span<const Attributes> endpoints,
                         std::vector<std::size_t>& out) const {
  out.clear();
  if (subset >= subsets_.size()) return;
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    if (subsetMatches(subsets_[subset].selector, endpoints[i])) out.push_back(i);
  }
}

}  // namespace hawser::policy
