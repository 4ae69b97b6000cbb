#pragma once
// Top-k lists and their exact merge: the one rule by which shard results, rank
// results and brute-force references are ordered, so a search over S shards on
// P ranks returns exactly what one index over all rows returns (for exact
// indexes such as Flat).
//
// Order: nearer first (ascending for l2, descending for ip/cosine); equal
// values by ascending cache row. Missing entries (fewer than k candidates)
// are row -1 with distance +inf (l2) / -inf (ip, cosine), and sort last.
// Any rank, any thread.
#include <cstdint>
#include <vector>

#include "fathom/index/manifest.h"

namespace fathom::index {

struct Neighbors {
  std::int64_t queries = 0;
  std::int64_t k = 0;
  std::vector<float> distances;     // [queries * k], row-major; l2: squared distance, ip/cosine: similarity
  std::vector<std::int64_t> rows;   // [queries * k] cache rows, -1 where missing

  Neighbors() = default;
  // queries x k lists of missing entries.
  Neighbors(std::int64_t queries, std::int64_t k, Metric metric);
};

// Sorts each query's list by the order above (in place).
void sort_lists(Neighbors& lists, Metric metric);

// Merges lists for the same queries (same `queries`; any k each) into the best
// `k` per query by the order above. UsageError if the query counts differ.
Neighbors merge_top_k(const std::vector<Neighbors>& parts, std::int64_t k, Metric metric);

// Recall@k of approximate lists against reference lists for the same queries:
// the share of the reference's (non-missing) rows that `got` also lists, over
// all queries (1 when the reference lists nothing). Used for IVF/HNSW against
// Flat, and for FastIF's restricted candidates against a full scan.
double recall_at_k(const Neighbors& got, const Neighbors& reference);

}  // namespace fathom::index
