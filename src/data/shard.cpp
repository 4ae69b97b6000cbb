// Balanced contiguous sharding: the first n % size ranks take one extra row,
// so every rank's begin is a closed form and no communication is needed.
#include "fathom/data/shard.h"

#include <algorithm>
#include <string>

#include "fathom/core/error.h"

namespace fathom::data {

Range shard_range(std::int64_t n, int rank, int size) {
  // Not tied to a file: the caller's record count or its place in the group.
  auto bad = [&](const char* field, const std::string& expected) {
    throw InputError("shard_range", 0, field,
                     expected + " (got n=" + std::to_string(n) + " rank=" + std::to_string(rank) +
                         " size=" + std::to_string(size) + ")");
  };
  if (n < 0) bad("n", "record count must be >= 0");
  if (size <= 0) bad("size", "group size must be >= 1");
  if (rank < 0 || rank >= size) bad("rank", "rank must be in [0, size)");
  const std::int64_t base = n / size, extra = n % size, r = rank;
  Range out;
  out.begin = r * base + std::min(r, extra);
  out.end = out.begin + base + (r < extra ? 1 : 0);
  return out;
}

}  // namespace fathom::data
