#pragma once
// EK-FAC (George et al. 2018; Grosse et al. 2023; METHODS.md §1.7): the
// training Hessian approximated by the true Fisher, block-diagonal over
// layers, each linear layer's block Kronecker-factored and its eigenvalues
// refitted.
//
// For a linear layer y = a Wᵀ + b (weight [out,in] and/or bias [out] in the
// layout; the bias as a homogeneous column: a ← [a, 1], so the block's
// gradient is G = [∇W, ∇b] [out, in+1]):
//   A = E[Σ_t a_t a_tᵀ]    S = E[Σ_t δ_t δ_tᵀ]    (Σ over a row's positions,
//                                                   padding excluded)
//   A = Q_A diag(·) Q_Aᵀ,  S = Q_S diag(·) Q_Sᵀ
//   Λ* = E[(Q_Sᵀ G Q_A)²]  (elementwise; G = Σ_t δ_t a_tᵀ per example)
//   (F + λI)⁻¹ V = Q_S ((Q_Sᵀ V Q_A) / (Λ* + λ)) Q_Aᵀ     (V layer-shaped)
// E over training rows AND labels y sampled from the model's predictive
// distribution softmax(logits) (`samples` per row, seeded: the label of
// (row, sample) is a function of (seed, row, sample, logits) only, so any
// rank count draws the same labels); a and δ from grads/layer_stream.h.
// Layout parameters that are not linear-layer weights/biases (embeddings,
// LayerNorm, parameters without taps) get a diagonal fallback:
//   (F + λI)⁻¹ v = v / (E[g²] + λ)    per coordinate, g = per-example gradient
// Scale: E is a mean over rows × samples, so F estimates the MEAN Hessian
// (training_hessian.h) and λ means the same as for every other solver.
//
// Distribution: each rank streams its contiguous shard of the training rows
// (data::shard_range); per-rank float64 sums are all-reduced, then rank 0's
// eigendecompositions and reduced sums are broadcast, so every rank holds
// bitwise the same factors, and the factors equal a one-rank run's to
// rounding (the order of the float64 sums).
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "fathom/attrib/training_hessian.h"
#include "fathom/comm/communicator.h"
#include "fathom/grads/param_layout.h"
#include "fathom/model/model.h"

namespace fathom::attrib {

// One linear layer's Kronecker-factored block. All tensors float64 CPU.
struct EkfacBlock {
  std::string name;              // "encoder.layers.0.linear1" (the weight's name without ".weight")
  int weight = -1, bias = -1;    // layout indices; -1 = not selected
  std::int64_t out = 0, in = 0;  // G is [out, in]; in counts the bias column
  torch::Tensor a_cov;           // [in,in]   Σ a aᵀ / N   (N = rows × samples)
  torch::Tensor s_cov;           // [out,out] Σ δ δᵀ / N
  torch::Tensor q_a, eig_a;      // eigenvectors (columns) and eigenvalues of a_cov, ascending
  torch::Tensor q_s, eig_s;      // the same for s_cov
  torch::Tensor lambda;          // [out,in]  Σ (Q_Sᵀ G Q_A)² / N
};

struct EkfacFactors {
  std::vector<EkfacBlock> blocks;
  std::vector<int> diagonal;      // layout indices on the diagonal fallback, layout order
  torch::Tensor diagonal_values;  // [Σ numel of `diagonal`] f64: E[g²], in that order
  std::int64_t rows = 0;          // training rows
  std::int64_t samples = 1;       // sampled labels per row
  // What the factors were computed for (field -> value; damping-independent).
  std::map<std::string, std::string> fingerprint;
  // Seconds per phase of compute_ekfac_factors ("covariances", "eigen",
  // "correction"); not saved.
  std::map<std::string, double> seconds;
};

struct EkfacSettings {
  std::uint64_t seed = 0;
  std::int64_t samples = 1;      // labels per row (>= 1)
  std::int64_t batch_rows = 64;  // rows per forward on one rank
  std::string fingerprint;       // the caller's part (model sha, corpus, ...): SolverOptions::fingerprint
};

// Which layout parameters form linear blocks (with out/in filled, no
// tensors) and which fall back to the diagonal, from the taps of one
// forward over training row 0. Not collective (every rank gets the same).
EkfacFactors ekfac_structure(model::Model& model, const grads::ParamLayout& layout, const TrainingRows& data);

// The fingerprint fields: "format", "caller", "parameters" (the layout),
// "model_sha256" (every parameter's name, shape, dtype and values),
// "structure" (blocks and diagonal), "rows", "samples", "seed".
std::map<std::string, std::string> ekfac_fingerprint(model::Model& model, const grads::ParamLayout& layout,
                                                     const EkfacFactors& structure, const EkfacSettings& settings,
                                                     std::int64_t rows);

// COLLECTIVE. Both passes over the training rows (covariances, then the
// eigenvalue correction and the diagonal), with progress on rank 0.
EkfacFactors compute_ekfac_factors(model::Model& model, const grads::ParamLayout& layout, const TrainingRows& data,
                                   comm::Communicator& comm, const EkfacSettings& settings);

// (F + λI)⁻¹ V for V [m, P] float64 (P = layout.dim()). λ > 0.
torch::Tensor ekfac_solve(const EkfacFactors& factors, const grads::ParamLayout& layout, const torch::Tensor& v,
                          double damping);

// Labels drawn from softmax(logits [B,C]) for corpus rows `rows` (B of them),
// draw number `sample`: [B] int64, a function of (seed, row, sample, logits).
torch::Tensor sample_fisher_labels(const torch::Tensor& logits, const std::vector<std::int64_t>& rows,
                                   std::uint64_t seed, std::int64_t sample);

// One file (LibTorch archive), written atomically. load: InputError naming
// the file when it is unreadable or not an EK-FAC factors file.
void save_ekfac_factors(const std::string& path, const EkfacFactors& factors);
EkfacFactors load_ekfac_factors(const std::string& path);
// The fingerprint stored in a factors file, without its tensors.
std::map<std::string, std::string> read_ekfac_fingerprint(const std::string& path);
// "" when equal, else which field differs and both values (shortened).
std::string fingerprint_difference(const std::map<std::string, std::string>& file,
                                   const std::map<std::string, std::string>& run);

}  // namespace fathom::attrib
