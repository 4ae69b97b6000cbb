#pragma once
// The top representer points of queries (docs/methods.md §7): for query t
// predicted as class c, the training rows i with the largest (excitatory) and
// the smallest (inhibitory) representer values α_ic f_iᵀ f_t.
//
// How: per predicted class c, each rank puts its rows' vectors α_ic f_i
// (float32) into an index::VectorIndex("Flat", Metric::ip) with ids = cache
// rows, searches the queries of class c with f_t (largest values) and with
// -f_t (smallest values), and index::merge_across_ranks merges the lists
// exactly. The values returned are then recomputed in float64 by the rank
// that owns each row (α_ic in float64 times the float64 dot product of the
// float32 features) and each list is re-sorted by that value (ties by
// ascending row), so values and order do not depend on FAISS's float32 sums
// or on the number of ranks (up to which of two rows whose float32 values
// tie at the k-th place is kept).
#include <cstdint>
#include <vector>

#include "fathom/attrib/representer_head.h"

namespace fathom::comm {
class Communicator;
}

namespace fathom::attrib {

struct RepresenterLists {
  std::int64_t queries = 0;
  std::int64_t k = 0;
  // [queries * k], row-major; rows are cache rows. excitatory: largest value
  // first; inhibitory: smallest (most negative) first. A row is -1 (value
  // NaN) only when the cache has fewer than k rows.
  std::vector<std::int64_t> excitatory_rows, inhibitory_rows;
  std::vector<double> excitatory_values, inhibitory_values;
};

// COLLECTIVE: every rank passes the same queries [n_queries * H] (float32,
// row-major), predictions [n_queries] (class indices in [0, classes)) and k;
// `rows` and `local_alpha` ([rows.rows * classes], HeadProblem::alpha) are
// this rank's. Every rank returns the same lists. UsageError for k < 1 or a
// prediction outside [0, classes).
RepresenterLists representer_lists(const HeadRows& rows, const std::vector<double>& local_alpha,
                                   std::int64_t classes, const float* queries, std::int64_t n_queries,
                                   const std::vector<std::int64_t>& predictions, std::int64_t k,
                                   comm::Communicator& comm);

}  // namespace fathom::attrib
