// Top representer points by maximum inner product search (representer_search.h).
#include "fathom/attrib/representer_search.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>

#include "fathom/comm/collective_check.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/index/vector_index.h"

namespace fathom::attrib {
namespace {

// Local lists of m queries; a rank without rows has only missing entries.
index::Neighbors local_search(const index::VectorIndex* idx, const std::vector<float>& queries, std::int64_t m,
                              std::int64_t k) {
  if (idx == nullptr || m == 0) return index::Neighbors(m, k, index::Metric::ip);
  return idx->search(queries.data(), m, k);
}

}  // namespace

RepresenterLists representer_lists(const HeadRows& rows, const std::vector<double>& local_alpha,
                                   std::int64_t classes, const float* queries, std::int64_t n_queries,
                                   const std::vector<std::int64_t>& predictions, std::int64_t k,
                                   comm::Communicator& comm) {
  if (k < 1) throw UsageError("representer: --top must be >= 1, got " + std::to_string(k));
  for (std::int64_t p : predictions)
    if (p < 0 || p >= classes) throw UsageError("representer: prediction " + std::to_string(p) + " out of range");
  const std::int64_t H = rows.dim;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  RepresenterLists out;
  out.queries = n_queries;
  out.k = k;
  out.excitatory_rows.assign(std::size_t(n_queries * k), -1);
  out.inhibitory_rows.assign(std::size_t(n_queries * k), -1);

  // Classes in ascending order: the same sequence of collectives on every rank.
  const std::set<std::int64_t> predicted(predictions.begin(), predictions.end());
  for (std::int64_t c : predicted) {
    std::vector<std::int64_t> members;
    for (std::int64_t q = 0; q < n_queries; ++q)
      if (predictions[std::size_t(q)] == c) members.push_back(q);
    const std::int64_t m = std::int64_t(members.size());
    std::vector<float> plus(std::size_t(m * H)), minus(std::size_t(m * H));
    for (std::int64_t j = 0; j < m; ++j)
      for (std::int64_t h = 0; h < H; ++h) {
        const float v = queries[members[std::size_t(j)] * H + h];
        plus[std::size_t(j * H + h)] = v;
        minus[std::size_t(j * H + h)] = -v;
      }
    index::Neighbors exc_local, inh_local;
    comm::collective_check(comm, "searching representer points of class " + std::to_string(c), [&] {
      std::unique_ptr<index::VectorIndex> idx;
      if (rows.rows > 0) {
        std::vector<float> vectors(std::size_t(rows.rows * H));
        for (std::int64_t i = 0; i < rows.rows; ++i) {
          const double a = local_alpha[std::size_t(i * classes + c)];
          for (std::int64_t h = 0; h < H; ++h)
            vectors[std::size_t(i * H + h)] = float(a * double(rows.features[std::size_t(i * H + h)]));
        }
        idx = std::make_unique<index::VectorIndex>("Flat", index::Metric::ip, H);
        idx->add(vectors.data(), rows.rows, rows.first_row);
      }
      exc_local = local_search(idx.get(), plus, m, k);
      inh_local = local_search(idx.get(), minus, m, k);
    });
    const index::Neighbors exc = index::merge_across_ranks(exc_local, k, index::Metric::ip, comm);
    const index::Neighbors inh = index::merge_across_ranks(inh_local, k, index::Metric::ip, comm);
    for (std::int64_t j = 0; j < m; ++j) {
      const std::int64_t q = members[std::size_t(j)];
      std::copy_n(exc.rows.begin() + j * k, k, out.excitatory_rows.begin() + q * k);
      std::copy_n(inh.rows.begin() + j * k, k, out.inhibitory_rows.begin() + q * k);
    }
  }

  // Values in float64 by the owner of each row; every other rank adds 0.
  std::vector<double> values(std::size_t(2 * n_queries * k), 0.0);
  auto value_of = [&](std::int64_t q, std::int64_t row) {
    const std::int64_t i = row - rows.first_row;
    const float* f = rows.features.data() + i * H;
    const float* t = queries + q * H;
    double d = 0;
    for (std::int64_t h = 0; h < H; ++h) d += double(f[h]) * double(t[h]);
    const double v = local_alpha[std::size_t(i * classes + predictions[std::size_t(q)])] * d;
    return v == 0 ? 0.0 : v;  // no -0.0: the sum over ranks below would turn it into +0.0 at some rank counts
  };
  for (std::int64_t q = 0; q < n_queries; ++q)
    for (std::int64_t j = 0; j < k; ++j)
      for (int list = 0; list < 2; ++list) {
        const std::int64_t row = (list == 0 ? out.excitatory_rows : out.inhibitory_rows)[std::size_t(q * k + j)];
        if (row < rows.first_row || row >= rows.first_row + rows.rows) continue;
        const std::size_t at = std::size_t(list * n_queries * k + q * k + j);
        values[at] = value_of(q, row);
      }
  comm.all_reduce(values, comm::ReduceOp::sum);
  out.excitatory_values.assign(values.begin(), values.begin() + n_queries * k);
  out.inhibitory_values.assign(values.begin() + n_queries * k, values.end());
  for (std::size_t j = 0; j < std::size_t(n_queries * k); ++j) {
    if (out.excitatory_rows[j] < 0) out.excitatory_values[j] = nan;
    if (out.inhibitory_rows[j] < 0) out.inhibitory_values[j] = nan;
  }

  // Re-sort each list by its float64 value (missing entries last).
  auto resort = [&](std::vector<std::int64_t>& r, std::vector<double>& v, bool largest_first) {
    for (std::int64_t q = 0; q < n_queries; ++q) {
      std::vector<std::int64_t> order(static_cast<std::size_t>(k));
      std::iota(order.begin(), order.end(), 0);
      const std::int64_t base = q * k;
      std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
        const std::int64_t ra = r[std::size_t(base + a)], rb = r[std::size_t(base + b)];
        if ((ra < 0) != (rb < 0)) return rb < 0;
        if (ra < 0) return false;
        const double va = v[std::size_t(base + a)], vb = v[std::size_t(base + b)];
        if (va != vb) return largest_first ? va > vb : va < vb;
        return ra < rb;
      });
      std::vector<std::int64_t> r2(static_cast<std::size_t>(k));
      std::vector<double> v2(static_cast<std::size_t>(k));
      for (std::int64_t j = 0; j < k; ++j) {
        r2[std::size_t(j)] = r[std::size_t(base + order[std::size_t(j)])];
        v2[std::size_t(j)] = v[std::size_t(base + order[std::size_t(j)])];
      }
      std::copy(r2.begin(), r2.end(), r.begin() + base);
      std::copy(v2.begin(), v2.end(), v.begin() + base);
    }
  };
  resort(out.excitatory_rows, out.excitatory_values, true);
  resort(out.inhibitory_rows, out.inhibitory_values, false);
  return out;
}

}  // namespace fathom::attrib
