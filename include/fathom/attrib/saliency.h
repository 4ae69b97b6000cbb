#pragma once
// Token saliency (docs/methods.md §10): which input tokens mattered for one
// prediction. Every gradient method starts from embedding_gradients.h: the
// gradient of F w.r.t. the token embeddings e_t (embed(ids), before any
// position/segment embedding the model adds inside forward_from_embeddings),
// with F = the target's logit (Objective::logit, default) or the
// cross-entropy loss at the target (Objective::loss, `--of loss`).
//
// Raw per-token scores, for every real (mask = 1) position t, special tokens
// included; 0 at padding:
//   vanilla      ‖∂F/∂e_t‖₂                         (AllenNLP; never negative)
//   grad_input   (∂F/∂e_t) · e_t                     (signed: > 0 raises F)
//   ig           IG_t = Σ_e e_t,e · Σ_k w_k ∂F/∂e_t,e (α_k e)
//                  zero baseline e' = 0, quadrature (α_k, w_k) on [0,1]
//                  (quadrature()); Σ_t IG_t ≈ F(x) − F(0), the difference
//                  is `completeness_gap`
//   smoothgrad   ‖ḡ_t‖₂, ḡ = mean over N copies of ∂F/∂e_t at e + ε,
//                  ε ~ N(0, σ²I), σ = noise × (max − min) of the example's
//                  own embedding values (real positions)
//   loo          p_y(x) − p_y(x with token t deleted), y = target, p = softmax
//                  (independent of the objective); special tokens are never
//                  deleted and score 0
// With Objective::loss a positive grad_input/IG score RAISES the loss, i.e.
// works against the target; methods.md's "−g·e" is that score negated.
//
// Batched passes: IG's B×m scaled inputs, SmoothGrad's B×N noisy inputs and
// LOO's deletions are cut into passes of at most rows_per_pass rows, fixed by
// the batch alone (so results do not depend on ranks). SmoothGrad's noise for
// an example comes from a generator seeded with (seed, the example's ids and
// type ids): the same input and seed give the same scores wherever the
// example sits in a file or batch.
// The model is used as given: callers put it in eval mode (dropout off).
// Thread-safety: one thread per model (model/model.h).
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "fathom/attrib/embedding_gradients.h"
#include "fathom/model/model.h"

namespace fathom::attrib {

enum class SaliencyMethod { vanilla, grad_input, integrated_gradients, smoothgrad, loo };
enum class QuadratureRule { gauss_legendre, riemann_left, riemann_right, riemann_middle, riemann_trapezoid };

// Names as the CLI and the server spell them: "vanilla", "grad-input", "ig",
// "smoothgrad", "loo"; "gauss-legendre", "riemann-left", "riemann-right",
// "riemann-middle", "riemann-trapezoid"; "logit", "loss". parse_* throw
// UsageError listing the valid names.
const std::vector<std::string>& saliency_method_names();
std::string method_name(SaliencyMethod m);
SaliencyMethod parse_saliency_method(const std::string& name);
std::string rule_name(QuadratureRule r);
QuadratureRule parse_quadrature_rule(const std::string& name);
std::string objective_name(Objective o);
Objective parse_objective(const std::string& name);

// Points α_k in [0,1] (ascending) and weights w_k with Σ w_k = 1 for
// ∫₀¹ f(α) dα ≈ Σ w_k f(α_k), as Captum defines its rules:
//   gauss-legendre    Legendre nodes x_k on [-1,1]: α = (x+1)/2, w = w_GL/2
//   riemann-left      α_k = k/m, k = 0..m-1, w = 1/m   (AllenNLP's IG)
//   riemann-right     α_k = (k+1)/m
//   riemann-middle    α_k = (k+½)/m
//   riemann-trapezoid α_k = k/(m-1), w = 1/(m-1) inside, half at the ends (m >= 2)
// UsageError for steps < 1 (< 2 for the trapezoid).
struct Quadrature {
  std::vector<double> alphas;
  std::vector<double> weights;
};
Quadrature quadrature(QuadratureRule rule, std::int64_t steps);

struct SaliencySettings {
  SaliencyMethod method = SaliencyMethod::vanilla;
  Objective objective = Objective::logit;
  std::int64_t steps = 50;                               // ig
  QuadratureRule rule = QuadratureRule::gauss_legendre;  // ig
  std::int64_t samples = 10;                             // smoothgrad N
  double noise = 0.01;                                   // smoothgrad σ / (max − min)
  std::uint64_t seed = 0;                                // smoothgrad
  std::int64_t rows_per_pass = 32;  // rows of one batched forward/backward (measured: README "Saliency")
  // Called before every batched pass; may throw to abandon the computation
  // (the server's per-request deadline). Empty = never.
  std::function<void()> checkpoint;
};

// UsageError for out-of-range settings (steps, samples, noise < 0, rows_per_pass).
void check_settings(const SaliencySettings& s);

struct SaliencyScores {
  torch::Tensor scores;              // [B,T] float64 raw scores (0 at padding)
  torch::Tensor logits;              // [B,C] float64 at the input
  torch::Tensor objective;           // [B]   float64 F at the input
  torch::Tensor baseline_objective;  // [B]   ig only: F at the zero baseline
  torch::Tensor completeness_gap;    // [B]   ig only: Σ_t IG_t − (F(x) − F(0))
};

// Scores of one padded batch. batch.ids/mask/type_ids as in model.h (on the
// model's device); targets [B] int64 label indices; `special` [B,T] bool:
// positions loo never deletes (undefined = none). Throws UsageError for bad
// settings or shapes.
SaliencyScores saliency_scores(model::Model& model, const model::Batch& batch, const torch::Tensor& targets,
                               const torch::Tensor& special, const SaliencySettings& settings);

// The SmoothGrad seed of one example (settings.seed mixed with its real ids
// and type ids): what saliency_scores uses for row b.
std::uint64_t smoothgrad_seed(std::uint64_t seed, const std::int64_t* ids, const std::int64_t* type_ids,
                              std::int64_t length);

}  // namespace fathom::attrib
