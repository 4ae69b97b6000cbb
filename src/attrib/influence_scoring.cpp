// Scoring s_test rows against the cached training gradients
// (influence_internal.h): a full scan streamed in row blocks (one GEMM per
// block), or FastIF's per-query candidate rows.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/data/shard.h"
#include "fathom/grads/cache_info.h"
#include "fathom/index/vector_index.h"
#include "fathom/store/cache_names.h"
#include "fathom/store/cache_reader.h"
#include "influence_internal.h"

namespace fathom::attrib::detail {
namespace {

namespace ds = store::cache_names::dataset;
using index::Metric;
using index::Neighbors;

// The best `top` of one block's scores [m, count] (rows begin + column),
// "larger first", as a Neighbors part.
Neighbors block_top(const torch::Tensor& scores, std::int64_t begin, std::int64_t top) {
  const std::int64_t m = scores.size(0), t = std::min(top, scores.size(1));
  Neighbors part(m, t, Metric::ip);
  if (t == 0) return part;
  auto [values, columns] = torch::topk(scores, t, 1, /*largest=*/true, /*sorted=*/true);
  values = values.contiguous();
  columns = columns.contiguous();
  const float* v = values.data_ptr<float>();
  const std::int64_t* c = columns.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < m * t; ++i) {
    part.distances[std::size_t(i)] = v[i];
    part.rows[std::size_t(i)] = begin + c[i];
  }
  return part;
}

void fold(Neighbors& running, const Neighbors& part, std::int64_t top) {
  running = index::merge_top_k({running, part}, top, Metric::ip);
}

}  // namespace

TopLists scan_all(const std::string& cache, const torch::Tensor& s, std::int64_t top, std::size_t memory_budget,
                  comm::Communicator& comm, std::vector<float>* full) {
  const store::CacheReader reader = store::CacheReader::open(cache);
  const std::int64_t m = s.size(0), k = s.size(1), N = reader.rows();
  if (reader.dataset(ds::kGradients).values_per_row() != k)
    throw UsageError("scan_all: s_test has " + std::to_string(k) + " columns, the cache rows " +
                     std::to_string(reader.dataset(ds::kGradients).values_per_row()));
  const torch::Tensor sf = s.to(torch::kFloat).contiguous();
  TopLists local{Neighbors(m, top, Metric::ip), Neighbors(m, top, Metric::ip)};
  store::RowBlocks blocks = grads::rank_blocks(reader, ds::kGradients, comm.rank(), comm.size(), memory_budget);
  std::vector<float> mine;  // [m, my rows] when `full`
  std::int64_t my_rows = 0;
  std::vector<std::pair<std::int64_t, torch::Tensor>> pieces;
  while (blocks.next()) {
    const torch::Tensor g =
        torch::from_blob(const_cast<float*>(blocks.data()), {blocks.count(), k}, torch::kFloat);
    const torch::Tensor scores = sf.matmul(g.t());  // [m, count]
    fold(local.proponents, block_top(scores, blocks.begin(), top), top);
    fold(local.opponents_negated, block_top(scores.neg(), blocks.begin(), top), top);
    if (full) pieces.emplace_back(blocks.count(), scores.clone());
    my_rows += blocks.count();
  }
  TopLists merged{index::merge_across_ranks(local.proponents, top, Metric::ip, comm),
                  index::merge_across_ranks(local.opponents_negated, top, Metric::ip, comm)};
  if (full) {
    // This rank's columns, query-major, then gathered in rank order: rank
    // r's rows are the contiguous range store::shard_rows(N, r, size).
    mine.resize(std::size_t(m * my_rows));
    std::int64_t col = 0;
    for (const auto& [count, sc] : pieces) {
      const float* p = sc.data_ptr<float>();
      for (std::int64_t q = 0; q < m; ++q)
        std::copy(p + q * count, p + (q + 1) * count, mine.begin() + q * my_rows + col);
      col += count;
    }
    std::vector<std::int64_t> counts;
    std::vector<std::uint8_t> all = comm.gatherv(mine.data(), std::int64_t(mine.size()), comm::DType::f32, 0, &counts);
    if (comm.is_root()) {
      full->assign(std::size_t(m * N), 0.0f);
      const float* p = reinterpret_cast<const float*>(all.data());
      std::int64_t first_row = 0;
      for (std::size_t r = 0; r < counts.size(); ++r) {
        const std::int64_t rows_r = m > 0 ? counts[r] / m : 0;
        for (std::int64_t q = 0; q < m; ++q)
          std::copy(p + q * rows_r, p + (q + 1) * rows_r, full->begin() + q * N + first_row);
        p += counts[r];
        first_row += rows_r;
      }
    }
  }
  return merged;
}

TopLists scan_candidates(const std::string& cache, const torch::Tensor& s,
                         const std::vector<std::vector<std::int64_t>>& candidates, std::int64_t top,
                         comm::Communicator& comm, std::vector<float>* full, std::int64_t rows) {
  const store::CacheReader reader = store::CacheReader::open(cache);
  const std::int64_t m = s.size(0), k = s.size(1);
  const torch::Tensor sf = s.to(torch::kFloat).contiguous();
  TopLists local{Neighbors(m, top, Metric::ip), Neighbors(m, top, Metric::ip)};
  const data::Range mine = data::shard_range(m, comm.rank(), comm.size());
  std::vector<double> scored;  // query, row, score
  std::vector<float> g;
  for (std::int64_t q = mine.begin; q < mine.end; ++q) {
    std::vector<std::int64_t> wanted;
    for (std::int64_t r : candidates[std::size_t(q)])
      if (r >= 0) wanted.push_back(r);
    std::sort(wanted.begin(), wanted.end());
    wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
    if (wanted.empty()) continue;
    g.resize(wanted.size() * std::size_t(k));
    // Contiguous runs of candidate rows, one read each.
    for (std::size_t a = 0; a < wanted.size();) {
      std::size_t b = a + 1;
      while (b < wanted.size() && wanted[b] == wanted[b - 1] + 1) ++b;
      reader.read_rows(ds::kGradients, wanted[a], std::int64_t(b - a), g.data() + a * std::size_t(k));
      a = b;
    }
    const torch::Tensor G = torch::from_blob(g.data(), {std::int64_t(wanted.size()), k}, torch::kFloat);
    const torch::Tensor sc = G.matmul(sf[q]).contiguous();  // [K]
    const float* v = sc.data_ptr<float>();
    Neighbors pro(m, std::int64_t(wanted.size()), Metric::ip), opp(m, std::int64_t(wanted.size()), Metric::ip);
    for (std::size_t j = 0; j < wanted.size(); ++j) {
      pro.rows[std::size_t(q) * wanted.size() + j] = wanted[j];
      pro.distances[std::size_t(q) * wanted.size() + j] = v[j];
      opp.rows[std::size_t(q) * wanted.size() + j] = wanted[j];
      opp.distances[std::size_t(q) * wanted.size() + j] = -v[j];
      if (full) scored.insert(scored.end(), {double(q), double(wanted[j]), double(v[j])});
    }
    fold(local.proponents, pro, top);
    fold(local.opponents_negated, opp, top);
  }
  TopLists merged{index::merge_across_ranks(local.proponents, top, Metric::ip, comm),
                  index::merge_across_ranks(local.opponents_negated, top, Metric::ip, comm)};
  if (full) {
    std::vector<std::uint8_t> all = comm.gatherv(scored.data(), std::int64_t(scored.size()), comm::DType::f64, 0);
    if (comm.is_root()) {
      full->assign(std::size_t(m * rows), std::numeric_limits<float>::quiet_NaN());
      const double* p = reinterpret_cast<const double*>(all.data());
      for (std::size_t i = 0; i + 2 < all.size() / sizeof(double); i += 3)
        (*full)[std::size_t(std::int64_t(p[i]) * rows + std::int64_t(p[i + 1]))] = float(p[i + 2]);
    }
  }
  return merged;
}

}  // namespace fathom::attrib::detail
