#pragma once
// Distributed search over a sharded index (build.h). Shard s is loaded by rank
// s % size(), so any number of ranks can search an index built with any other
// number. Each rank searches its shards, the per-rank top-k lists are gathered
// on rank 0 (comm gatherv) and merged exactly (top_k.h), and the merged lists
// are broadcast: every rank gets the same answer, which at 1, 2 or 3 ranks is
// identical, and for exact indexes (Flat) equals a brute-force scan.
#include <cstdint>
#include <memory>
#include <string>

#include "fathom/index/manifest.h"
#include "fathom/index/top_k.h"

namespace fathom::comm {
class Communicator;
}

namespace fathom::index {

class ShardedIndex {
 public:
  // COLLECTIVE. Loads the manifest and this rank's shards. nprobe > 0
  // overrides the manifest's search nprobe (IVF). InputError (every rank) for
  // a missing/malformed manifest or shard file, or a shard whose row count
  // differs from the manifest. The communicator must outlive the index.
  static ShardedIndex open(const std::string& manifest_path, comm::Communicator& comm, std::int64_t nprobe = 0);
  ~ShardedIndex();
  ShardedIndex(ShardedIndex&&) noexcept;
  ShardedIndex& operator=(ShardedIndex&&) noexcept;

  const Manifest& manifest() const;
  const std::string& path() const;

  // COLLECTIVE. queries: [n, dim] row-major floats, the same on every rank
  // (normalised here for cosine; the caller's buffer is not changed).
  // k >= 1 (UsageError otherwise; k larger than the rows is allowed and
  // leaves missing entries). Returns the merged top-k on every rank.
  Neighbors search(const float* queries, std::int64_t n, std::int64_t k) const;

 private:
  struct Impl;
  explicit ShardedIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fathom::index
