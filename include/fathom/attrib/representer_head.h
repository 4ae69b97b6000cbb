#pragma once
// The last layer of a classifier as a convex problem over cached features
// (representer points, docs/methods.md §7): its objective, its distributed
// and rank-count-independent evaluation, its fit (L-BFGS) and the
// representer weights α at a head.
//
//   objective(W, b) = (1/n) Σ_i CE(W f_i + b, y_i) + λ ‖W‖²
//   ∇_W = (1/n) Σ_i (p_i − e_{y_i}) f_iᵀ + 2λ W,   ∇_b = (1/n) Σ_i (p_i − e_{y_i})
//   α_i = (e_{y_i} − p_i) / (2λn)            (so ∇_W = 0 ⇔ W = Σ_i α_i f_iᵀ)
// n = rows with a label; rows without one (label data::kNoLabel) take no
// part and have α_i = 0. The bias is not penalised.
//
// Determinism: the rows are cut into reduction blocks (ReductionPlan) that
// depend on the row count and the cache's chunking only, never on the number
// of ranks. Every block is summed row by row in float64 (plain loops, no
// BLAS: the same order whatever the thread count), and the block sums are
// added in block order along a chain of broadcasts (rank 0's blocks, then rank
// 1's, ...). So an evaluation, and therefore the whole fit, gives bitwise the
// same numbers at any rank count.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "fathom/store/schema.h"

namespace fathom::comm {
class Communicator;
}

namespace fathom::attrib {

// Rows [0, rows) cut into `blocks` contiguous blocks of block_rows rows
// (the last one shorter), each a whole number of the cache's row chunks.
// Rank r owns the blocks data::shard_range(blocks, r, size) and so one
// contiguous run of rows. Pure arithmetic; any rank.
struct ReductionPlan {
  std::int64_t rows = 0;
  std::int64_t block_rows = 1;
  std::int64_t blocks = 0;

  // At most max_blocks blocks of whole chunks of rows_per_chunk rows.
  // UsageError for rows < 1, rows_per_chunk < 1 or max_blocks < 1.
  static ReductionPlan make(std::int64_t rows, std::int64_t rows_per_chunk, std::int64_t max_blocks);
  store::RowRange block(std::int64_t b) const;
  std::int64_t first_block(int rank, int size) const;
  std::int64_t end_block(int rank, int size) const;
  store::RowRange rank_rows(int rank, int size) const;
};

// COLLECTIVE. out[width] = Σ over every block b (in block order) of the
// block's partial sum, which block_sum(b, partial) adds into a zeroed
// partial[width] for each block this rank owns. Every rank returns the same
// vector, bitwise the same for any rank count.
std::vector<double> sum_over_blocks(const ReductionPlan& plan, std::int64_t width,
                                    const std::function<void(std::int64_t block, double* partial)>& block_sum,
                                    comm::Communicator& comm);

// A head: W [C, H] and b [C], row-major, float64.
struct Head {
  std::int64_t classes = 0;     // C
  std::int64_t dim = 0;         // H
  std::vector<double> weight;   // [C * H]
  std::vector<double> bias;     // [C]
  // θ = [W row-major, b]: the vector L-BFGS works on, and back.
  std::vector<double> flat() const;
  static Head from_flat(const std::vector<double>& theta, std::int64_t classes, std::int64_t dim);
};

struct HeadEvaluation {
  double objective = 0;            // mean CE + λ‖W‖²
  double mean_loss = 0;            // mean CE alone
  std::vector<double> gradient;    // [C * H + C], θ order
  double gradient_norm = 0;        // Euclidean norm of `gradient`
};

// This rank's rows of the problem. Memory: rows * H floats.
struct HeadRows {
  std::string source;                // the cache path, for messages
  ReductionPlan plan;
  std::int64_t first_row = 0;        // == plan.rank_rows(rank, size).begin
  std::int64_t rows = 0;             // this rank's rows
  std::int64_t dim = 0;              // H
  std::vector<float> features;       // [rows * H]
  std::vector<std::int64_t> labels;  // [rows], data::kNoLabel for none
};

class HeadProblem {
 public:
  // COLLECTIVE (counts the labelled rows over ranks). UsageError for
  // lambda <= 0 or no labelled row at all, InputError (naming the row) for a
  // label outside [0, classes) other than data::kNoLabel.
  HeadProblem(HeadRows rows, std::int64_t classes, double lambda, comm::Communicator& comm);

  // COLLECTIVE. Objective and gradient at `head`.
  HeadEvaluation evaluate(const Head& head) const;
  // ANY RANK, local: α of this rank's rows at `head`, [rows * C] row-major.
  std::vector<double> alpha(const Head& head) const;
  // COLLECTIVE. Σ_i α_i f_iᵀ over every row, [C * H]: the W that the
  // representer decomposition reconstructs (equals head.weight at a
  // stationary point).
  std::vector<double> reconstructed_weight(const std::vector<double>& local_alpha) const;

  const HeadRows& rows() const { return rows_; }
  std::int64_t classes() const { return classes_; }
  double lambda() const { return lambda_; }
  std::int64_t labelled() const { return labelled_; }  // n, over all ranks

 private:
  HeadRows rows_;
  std::int64_t classes_;
  double lambda_;
  std::int64_t labelled_ = 0;
  comm::Communicator* comm_;
};

struct FitOptions {
  double tolerance = 1e-6;          // stop when ‖∇θ‖₂ <= tolerance
  std::int64_t max_iterations = 1000;
  std::int64_t memory = 10;         // L-BFGS correction pairs
};

struct FitResult {
  Head head;                        // the fitted head (== start when not fitted)
  HeadEvaluation before, after;     // at the start and at `head`
  bool fitted = false;              // false: the start was already within tolerance
  bool converged = false;           // after.gradient_norm <= tolerance
  std::int64_t iterations = 0;
  std::int64_t evaluations = 0;
  std::string stop_reason;          // "tolerance" | "max_iterations" | "line_search"
};

// COLLECTIVE. L-BFGS (two-loop recursion, backtracking Armijo line search,
// c1 = 1e-4, halving up to 50 times) from `start`, until the gradient norm is
// within tolerance. Every rank takes the same steps (evaluations are
// identical everywhere). UsageError for tolerance <= 0, max_iterations < 0 or
// memory < 1.
FitResult fit_head(const HeadProblem& problem, const Head& start, const FitOptions& options);

}  // namespace fathom::attrib
