// Randomness as policy/ sees it: an injected generator, so tests are
// deterministic. std::mt19937_64's output sequence is fixed by the standard;
// the std:: distributions are not, so the helpers below are used instead of
// them to keep seeded results identical on every standard library.
#pragma once

#include <cstdint>
#include <random>

namespace hawser::policy {

using Random = std::mt19937_64;

// Uniform in [0, bound); 0 when bound is 0. Unbiased (rejection sampling).
inline std::uint64_t uniformBelow(Random& rng, std::uint64_t bound) {
  if (bound <= 1) return 0;
  const std::uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
  for (;;) {
    const std::uint64_t r = rng();
    if (r >= threshold) return r % bound;
  }
}

// Uniform in [0, 1) with 53 bits of precision.
inline double uniformUnit(Random& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

}  // namespace hawser::policy
