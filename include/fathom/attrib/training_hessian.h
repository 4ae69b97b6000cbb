#pragma once
// The damped training Hessian of the cross-entropy loss, as an operator on
// the parameters a layout selects (METHODS.md §1.1, docs/methods.md §4):
//   H = (1/n) Σ_i ∇²_θ L(z_i, θ)      over training rows i (gold labels),
// applied to vectors by Pearlmutter's trick (double backward on a batch),
// never formed. Damping is NOT included: solvers add λ themselves.
//
// Vectors are row blocks V [m, P] in float64 on the CPU, P = layout.dim(),
// columns in ParamLayout order (the same flat order as a gradient-cache row
// before projection); m vectors share one forward and first backward per
// batch (the gradient graph is kept and differentiated m times).
//
// Distribution: every COLLECTIVE method must be called by all ranks with the
// same arguments; each rank evaluates its contiguous share of the batch rows
// and the per-rank sums are all-reduced in float64, so the result is the
// same operator at any rank count (equal to rounding).
// Thread-safety: one thread; the model must not be used elsewhere meanwhile.
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "fathom/comm/communicator.h"
#include "fathom/grads/param_layout.h"
#include "fathom/model/model.h"

namespace fathom::attrib {

// The training corpus as batches on demand. make_batch(rows) returns the
// batch of those corpus rows (any order, gold labels for every row) on the
// model's device; rows are indices in [0, rows).
struct TrainingRows {
  std::int64_t rows = 0;
  std::function<model::Batch(const std::vector<std::int64_t>& rows)> make_batch;
};

class TrainingHessian {
 public:
  // `model`, `data` and `comm` must outlive this object. The model is put in
  // eval mode (no dropout, so H is well defined). batch_rows bounds how many
  // rows one rank pushes through one double backward.
  TrainingHessian(model::Model& model, grads::ParamLayout layout, TrainingRows data, comm::Communicator& comm,
                  std::int64_t batch_rows = 64);

  const grads::ParamLayout& layout() const { return layout_; }
  std::int64_t dim() const { return layout_.dim(); }
  std::int64_t rows() const { return data_.rows; }
  comm::Communicator& comm() { return *comm_; }
  model::Model& model() { return *model_; }
  const TrainingRows& data() const { return data_; }
  std::int64_t batch_rows() const { return batch_rows_; }

  // COLLECTIVE. H_S V for the mean Hessian over the given rows S (a
  // mini-batch; duplicates count twice). V [m,P] f64 -> [m,P] f64.
  torch::Tensor hvp(const torch::Tensor& v, const std::vector<std::int64_t>& rows);
  // ANY RANK, no communication: the same as hvp() computed by this rank
  // alone over all of `rows` (LiSSA runs independent repeats on different
  // ranks with it).
  torch::Tensor hvp_local(const torch::Tensor& v, const std::vector<std::int64_t>& rows);
  // COLLECTIVE. H V over all training rows (streamed in batches of batch_rows).
  torch::Tensor full_hvp(const torch::Tensor& v);
  // Rows of mini-batch `step` of a seeded stream: `size` rows drawn without
  // replacement within the batch, a function of (seed, step) only.
  std::vector<std::int64_t> sample_rows(std::uint64_t seed, std::int64_t step, std::int64_t size) const;
  // How many HVP row-evaluations this rank has done (for the metadata).
  std::int64_t rows_evaluated() const { return rows_evaluated_; }

 private:
  // Σ over `rows` (this rank's share only) of ∇²L_i V, unreduced.
  torch::Tensor local_hvp_sum(const torch::Tensor& v, const std::vector<std::int64_t>& rows);

  model::Model* model_;
  grads::ParamLayout layout_;
  TrainingRows data_;
  comm::Communicator* comm_;
  std::int64_t batch_rows_;
  std::int64_t rows_evaluated_ = 0;
};

// Flat [P] (or [m,P]) <-> per-parameter views in layout order.
std::vector<torch::Tensor> unflatten(const grads::ParamLayout& layout, const torch::Tensor& flat_row);
torch::Tensor flatten(const std::vector<torch::Tensor>& per_param);

}  // namespace fathom::attrib
