#pragma once
// Shared by the index tests (local and mpi): seeded random and clustered
// vectors, and the brute-force reference every search is checked against —
// all distances in double, sorted by the top_k.h order with its own
// comparator (not the code under test).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <tuple>
#include <vector>

#include "fathom/index/manifest.h"
#include "fathom/index/top_k.h"

namespace fathom::index::testing {

// n x dim values, normal(0, 1).
inline std::vector<float> random_vectors(std::int64_t n, std::int64_t dim, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(std::size_t(n * dim));
  for (float& v : x) v = normal(gen);
  return x;
}

// n x dim values around `clusters` centres (spread 10) with noise 1: data
// on which IVF's coarse quantiser has structure to find. The centres depend
// on `clusters` and `dim` only, so rows and queries drawn with different
// seeds share them.
inline std::vector<float> clustered_vectors(std::int64_t n, std::int64_t dim, std::int64_t clusters,
                                            std::uint64_t seed) {
  const std::vector<float> centres = random_vectors(clusters, dim, 0x9e3779b97f4a7c15ull);
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<std::int64_t> pick(0, clusters - 1);
  std::vector<float> x(std::size_t(n * dim));
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t c = pick(gen);
    for (std::int64_t d = 0; d < dim; ++d) x[std::size_t(i * dim + d)] = 10.0f * centres[std::size_t(c * dim + d)] + normal(gen);
  }
  return x;
}

// Distance of one pair in double under `metric` (cosine: normalised ip).
inline double reference_distance(const float* a, const float* b, std::int64_t dim, Metric metric) {
  double l2 = 0, ip = 0, na = 0, nb = 0;
  for (std::int64_t d = 0; d < dim; ++d) {
    const double x = a[d], y = b[d];
    l2 += (x - y) * (x - y);
    ip += x * y;
    na += x * x;
    nb += y * y;
  }
  if (metric == Metric::l2) return l2;
  if (metric == Metric::ip) return ip;
  return (na > 0 && nb > 0) ? ip / std::sqrt(na * nb) : 0.0;
}

struct Reference {
  std::vector<std::vector<std::pair<double, std::int64_t>>> lists;  // per query, best first, k entries (or fewer)
};

// Brute force: every row's distance, sorted nearer-first then by row.
inline Reference brute_force(const std::vector<float>& rows, const std::vector<float>& queries, std::int64_t dim,
                             std::int64_t k, Metric metric) {
  const std::int64_t n = std::int64_t(rows.size()) / dim, nq = std::int64_t(queries.size()) / dim;
  const bool larger = metric != Metric::l2;
  Reference ref;
  for (std::int64_t q = 0; q < nq; ++q) {
    std::vector<std::pair<double, std::int64_t>> all;
    for (std::int64_t r = 0; r < n; ++r)
      all.emplace_back(reference_distance(&queries[std::size_t(q * dim)], &rows[std::size_t(r * dim)], dim, metric), r);
    std::sort(all.begin(), all.end(), [larger](const auto& a, const auto& b) {
      if (a.first != b.first) return larger ? a.first > b.first : a.first < b.first;
      return a.second < b.second;
    });
    all.resize(std::size_t(std::min<std::int64_t>(k, n)));
    ref.lists.push_back(std::move(all));
  }
  return ref;
}

// Search results equal the brute force: distances within a float tolerance,
// each returned row's own distance matches, and the rows are the same except
// where the reference itself has a near-tie at that position.
inline void expect_matches_brute_force(const Neighbors& got, const Reference& ref, const std::vector<float>& rows,
                                       const std::vector<float>& queries, std::int64_t dim, Metric metric) {
  ASSERT_EQ(got.queries, std::int64_t(ref.lists.size()));
  for (std::int64_t q = 0; q < got.queries; ++q) {
    const auto& want = ref.lists[std::size_t(q)];
    for (std::int64_t j = 0; j < got.k; ++j) {
      const std::size_t at = std::size_t(q * got.k + j);
      if (j >= std::int64_t(want.size())) {
        EXPECT_EQ(got.rows[at], -1) << "query " << q << " position " << j << " should be missing";
        continue;
      }
      const double scale = std::max(1.0, std::abs(want[std::size_t(j)].first));
      const double tol = 1e-4 * scale;
      EXPECT_NEAR(got.distances[at], want[std::size_t(j)].first, tol) << "query " << q << " position " << j;
      ASSERT_GE(got.rows[at], 0) << "query " << q << " position " << j;
      const double own = reference_distance(&queries[std::size_t(q * dim)], &rows[std::size_t(got.rows[at] * dim)],
                                            dim, metric);
      EXPECT_NEAR(got.distances[at], own, tol) << "query " << q << " row " << got.rows[at];
      const bool tie_before = j > 0 && std::abs(want[std::size_t(j - 1)].first - want[std::size_t(j)].first) < tol;
      const bool tie_after = j + 1 < std::int64_t(want.size()) &&
                             std::abs(want[std::size_t(j + 1)].first - want[std::size_t(j)].first) < tol;
      if (!tie_before && !tie_after)
        EXPECT_EQ(got.rows[at], want[std::size_t(j)].second) << "query " << q << " position " << j;
    }
  }
}

// Recall@k (the library's definition; its own test checks it by hand).
inline double recall(const Neighbors& got, const Neighbors& truth) { return recall_at_k(got, truth); }

}  // namespace fathom::index::testing
