// Weighted routes over endpoint subsets: `split: [{subset: {version: v2},
// weight: 10}, ...]`.
//
// A subset selects the endpoints whose attributes contain every key/value of
// its selector (an empty selector selects all). A request goes to a subset
// picked with probability weight / sum(weights), unless it carries the
// override header with a subset's name, which pins that subset even at
// weight 0 (how a canary is tried before it takes traffic).
//
// A subset's name is its explicit name if given, else the selector's only
// value when it has one key ("v2" for {version: v2}), else "k=v" pairs in
// key order joined by "," ("track=canary,version=v2").
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policy/random.h"

namespace hawser::policy {

// Endpoint attributes (from discovery) and subset selectors alike.
using Attributes = std::map<std::string, std::string, std::less<>>;

// A suggested name for the pinning header; the dataplane decides which it reads.
inline constexpr std::string_view kSubsetOverrideHeader = "x-hawser-subset";

struct Subset {
  Attributes selector;
  std::uint32_t weight = 0;
  std::string name;  // empty: derived, see above
};

std::string defaultSubsetName(const Attributes& selector);

// Every key/value of `selector` is present in `endpoint`.
bool subsetMatches(const Attributes& selector, const Attributes& endpoint);

class RouteSplit {
 public:
  explicit RouteSplit(std::vector<Subset> subsets);

  // A subset index by weight; nullopt when no subset has weight.
  std::optional<std::size_t> pick(Random& rng) const;
  // The subset named `name`, if any.
  std::optional<std::size_t> find(std::string_view name) const;
  // The pinned subset when `override_value` names one, else pick(rng).
  std::optional<std::size_t> choose(std::string_view override_value, Random& rng) const;

  // Indices of the endpoints in subset `subset`, written into `out` (cleared
  // first). Meant to run when endpoints change, not per request.
  void members(std::size_t subset, std::span<const Attributes> endpoints, std::vector<std::size_t>& out) const;

  const std::vector<Subset>& subsets() const { return subsets_; }
  std::uint64_t totalWeight() const { return cumulative_.empty() ? 0 : cumulative_.back(); }

 private:
  std::vector<Subset> subsets_;
  std::vector<std::uint64_t> cumulative_;  // running sum of weights
};

}  // namespace hawser::policy
