// Per-epoch example order. Our own generator (not std::shuffle or
// std::uniform_int_distribution, whose output differs between standard
// libraries) so a given seed gives the same order everywhere.
#include <stdexcept>

#include "fathom/model/train.h"
#include "train_internal.h"

namespace fathom::model {
namespace {

// SplitMix64 (Steele, Lea, Flood 2014): tiny, full-period, well mixed.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t state) : state_(state) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, bound): reject the top partial block, so no modulo bias.
  std::uint64_t below(std::uint64_t bound) {
    const std::uint64_t limit = ~std::uint64_t(0) - (~std::uint64_t(0) % bound);
    std::uint64_t r;
    do r = next();
    while (r >= limit);
    return r % bound;
  }

 private:
  std::uint64_t state_;
};

}  // namespace

std::vector<std::int64_t> epoch_permutation(std::int64_t n, std::uint64_t seed, std::int64_t epoch) {
  if (n < 0) throw std::invalid_argument("epoch_permutation: n < 0");
  // Mix seed and epoch through one SplitMix64 step each, so neighbouring
  // seeds/epochs do not give correlated streams.
  SplitMix64 mix(seed);
  SplitMix64 rng(mix.next() ^ SplitMix64(std::uint64_t(epoch) * 0xD1B54A32D192ED03ULL).next());
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) order[std::size_t(i)] = i;
  for (std::int64_t i = n - 1; i > 0; --i) {
    auto j = static_cast<std::int64_t>(rng.below(std::uint64_t(i) + 1));
    std::swap(order[std::size_t(i)], order[std::size_t(j)]);
  }
  return order;
}

std::uint64_t dropout_seed(std::uint64_t seed, std::int64_t epoch) {
  // A stream distinct from the shuffle's (different multiplier), so the
  // dropout masks are not a function of the example order.
  SplitMix64 rng(seed ^ (std::uint64_t(epoch) * 0x9FB21C651E98DF25ULL));
  rng.next();
  return rng.next() >> 1;  // torch::manual_seed takes uint64; keep it positive for readability in logs
}

}  // namespace fathom::model
