#pragma once
// `fathom index`: builds a sharded FAISS index over one float dataset of a
// fathom cache (/features or /gradients), from any FAISS index_factory string.
//
//   1. every rank streams its contiguous share of the cache rows (store's
//      rank split) and keeps the rows of a seeded sample (row r is sampled iff
//      a hash of (seed, r) falls under a threshold, so the sample does not
//      depend on the number of ranks); the samples are gathered on rank 0
//      (comm gatherv) in row order;
//   2. rank 0 trains the empty index (if it needs training) and broadcasts it;
//   3. every rank adds its rows (shard-local ids 0..n-1) and writes its shard;
//   4. rank 0 writes the manifest (manifest.h) last, atomically.
// A cosine metric L2-normalises every vector first (inner product after).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fathom/index/manifest.h"

namespace fathom::comm {
class Communicator;
}

namespace fathom::index {

struct BuildOptions {
  std::string cache;                  // fathom cache (HDF5), complete
  std::string field = "features";     // features | gradients
  std::string spec = "Flat";          // FAISS index_factory string
  std::string metric = "l2";          // l2 | ip | cosine
  std::int64_t train_sample = 0;      // rows to train on; 0 = min(rows, 100000)
  std::int64_t nprobe = 0;            // IVF search nprobe stored in the manifest; 0 = min(nlist, 16)
  std::uint64_t seed = 0;             // training-sample seed
  std::string out;                    // manifest path; shards beside it
  bool overwrite = false;             // replace an existing manifest instead of refusing
  std::size_t memory_budget_bytes = std::size_t(256) << 20;  // per rank, for streaming the rows
  double progress_period_s = 10.0;
  int threads = 0;                    // FAISS threads per rank (threads.h); 0 = this rank's share of the node
};

// The search nprobe build_index stores when none is given: min(nlist, 16)
// (0 for an index without an IVF layer, nlist = 0).
std::int64_t default_nprobe(std::int64_t nlist);

// COLLECTIVE. Validates everything before writing anything: a missing or
// incomplete cache, an unknown field, metric or a spec FAISS rejects (its
// message plus the forms fathom accepts), train_sample / nprobe < 0, an
// existing `out` without `overwrite`, are UsageError/InputError (exit 2 on
// every rank), and nothing is written. Returns the manifest on every rank.
Manifest build_index(const BuildOptions& options, comm::Communicator& comm);

}  // namespace fathom::index
