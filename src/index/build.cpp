// build_index (build.h): seeded training sample, train on rank 0, every rank
// fills and writes its shard, rank 0 writes the manifest last.
#include "fathom/index/build.h"

#include <algorithm>

namespace fathom::index {

std::int64_t default_nprobe(std::int64_t nlist) { return std::min<std::int64_t>(nlist, 16); }

}  // namespace fathom::index
