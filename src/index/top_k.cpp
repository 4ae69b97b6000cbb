// Top-k ordering and exact merge (top_k.h).
#include "fathom/index/top_k.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <string>
#include <tuple>

#include "fathom/core/error.h"

namespace fathom::index {
namespace {

float missing_distance(Metric metric) {
  return larger_is_nearer(metric) ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
}

// Strict weak order on (distance, row): nearer first, then lower row; missing
// entries (row -1) last whatever their distance.
struct Nearer {
  bool larger;
  bool operator()(const std::pair<float, std::int64_t>& a, const std::pair<float, std::int64_t>& b) const {
    if ((a.second < 0) != (b.second < 0)) return b.second < 0;
    if (a.first != b.first) return larger ? a.first > b.first : a.first < b.first;
    return a.second < b.second;
  }
};

}  // namespace

Neighbors::Neighbors(std::int64_t queries_, std::int64_t k_, Metric metric)
    : queries(queries_),
      k(k_),
      distances(std::size_t(queries_ * k_), missing_distance(metric)),
      rows(std::size_t(queries_ * k_), -1) {}

void sort_lists(Neighbors& lists, Metric metric) {
  const Nearer nearer{larger_is_nearer(metric)};
  std::vector<std::pair<float, std::int64_t>> entries(std::size_t(lists.k));
  for (std::int64_t q = 0; q < lists.queries; ++q) {
    const std::size_t at = std::size_t(q * lists.k);
    for (std::int64_t j = 0; j < lists.k; ++j) entries[j] = {lists.distances[at + j], lists.rows[at + j]};
    std::sort(entries.begin(), entries.end(), nearer);
    for (std::int64_t j = 0; j < lists.k; ++j) std::tie(lists.distances[at + j], lists.rows[at + j]) = entries[j];
  }
}

Neighbors merge_top_k(const std::vector<Neighbors>& parts, std::int64_t k, Metric metric) {
  if (k < 1) throw UsageError("merge_top_k: k must be >= 1, got " + std::to_string(k));
  const std::int64_t queries = parts.empty() ? 0 : parts.front().queries;
  for (const auto& p : parts)
    if (p.queries != queries)
      throw UsageError("merge_top_k: lists for " + std::to_string(p.queries) + " and " + std::to_string(queries) +
                       " queries cannot be merged");
  Neighbors out(queries, k, metric);
  const Nearer nearer{larger_is_nearer(metric)};
  std::vector<std::pair<float, std::int64_t>> pool;
  for (std::int64_t q = 0; q < queries; ++q) {
    pool.clear();
    for (const auto& p : parts)
      for (std::int64_t j = 0; j < p.k; ++j) {
        const std::size_t at = std::size_t(q * p.k + j);
        if (p.rows[at] >= 0) pool.emplace_back(p.distances[at], p.rows[at]);
      }
    const std::size_t keep = std::min<std::size_t>(pool.size(), std::size_t(k));
    std::partial_sort(pool.begin(), pool.begin() + std::ptrdiff_t(keep), pool.end(), nearer);
    for (std::size_t j = 0; j < keep; ++j) {
      out.distances[std::size_t(q * k) + j] = pool[j].first;
      out.rows[std::size_t(q * k) + j] = pool[j].second;
    }
  }
  return out;
}

double recall_at_k(const Neighbors& got, const Neighbors& reference) {
  if (got.queries != reference.queries)
    throw UsageError("recall_at_k: lists for " + std::to_string(got.queries) + " and " +
                     std::to_string(reference.queries) + " queries");
  std::int64_t found = 0, total = 0;
  for (std::int64_t q = 0; q < reference.queries; ++q) {
    const auto first = got.rows.begin() + std::ptrdiff_t(q * got.k);
    for (std::int64_t j = 0; j < reference.k; ++j) {
      const std::int64_t row = reference.rows[std::size_t(q * reference.k + j)];
      if (row < 0) continue;
      ++total;
      if (std::find(first, first + std::ptrdiff_t(got.k), row) != first + std::ptrdiff_t(got.k)) ++found;
    }
  }
  return total == 0 ? 1.0 : double(found) / double(total);
}

}  // namespace fathom::index
