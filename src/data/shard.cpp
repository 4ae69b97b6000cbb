// Balanced contiguous sharding: the first n % size ranks take one extra row,
// so every rank's begin is a closed form and no communication is needed.
#include "fathom/data/shard.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace fathom::data {

Range shard_range(std::int64_t n, int rank, int size) {
  if (n < 0 || size <= 0 || rank < 0 || rank >= size) {
    throw std::invalid_argument("shard_range: need n >= 0 and 0 <= rank < size, got n=" +
                                std::to_string(n) + " rank=" + std::to_string(rank) +
                                " size=" + std::to_string(size));
  }
  const std::int64_t base = n / size, extra = n % size, r = rank;
  Range out;
  out.begin = r * base + std::min(r, extra);
  out.end = out.begin + base + (r < extra ? 1 : 0);
  return out;
}

}  // namespace fathom::data
