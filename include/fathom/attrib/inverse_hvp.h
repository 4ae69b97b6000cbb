#pragma once
// s = (H + λI)⁻¹ v for the training Hessian H (training_hessian.h), by one of
// several solvers chosen from a spec string, FAISS-style:
//   "lissa"   stochastic recursion (Agarwal et al.), auto scale from λ_max
//   "cg"      conjugate gradient on H + λI to a relative tolerance
//   "exact"   explicit H (P HVP columns), Cholesky of H + λI — the reference
//   "arnoldi" top-r eigenpairs by Lanczos with HVPs, low rank + damping
//   "ekfac"   per-layer Kronecker factors with eigenvalue correction
// Vectors are [m, P] float64 CPU row blocks (m queries solved together).
// Every solver is COLLECTIVE (all ranks call setup() and apply() with the
// same inputs and get the same result) and deterministic for fixed seeds.
// Failures that the user can fix (LiSSA diverging, CG not converging, a
// parameter list too large for `exact`) throw fathom::InputError with a
// hint naming the option to change; no solver ever returns NaN or inf.
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>

#include "fathom/attrib/training_hessian.h"

namespace fathom::attrib {

struct SolverOptions {
  std::string solver = "lissa";  // lissa | cg | exact | arnoldi | ekfac
  // What saved eigenpairs / factors must match to be reused (the caller puts
  // in the model's sha256, the parameter list and the training corpus).
  std::string fingerprint;
  double damping = 0.01;         // λ (every solver)
  std::uint64_t seed = 0;
  // lissa
  std::int64_t depth = 1000;
  std::int64_t repeats = 1;
  std::int64_t batch = 8;        // rows per HVP mini-batch (global, split over ranks)
  double scale = 0;              // s; 0 = auto: 1.1 × (λ_max + λ), λ_max by power iteration
  std::int64_t power_iterations = 20;
  // cg
  double tolerance = 1e-6;       // relative residual ‖r‖/‖b‖
  std::int64_t max_iterations = 500;
  // exact
  std::int64_t max_exact_dim = 5000;
  // arnoldi
  std::int64_t rank = 64;        // r eigenpairs kept
  std::int64_t lanczos_steps = 0;  // 0 = 2r (capped at P)
  std::string arnoldi_path;      // eigenpairs file: loaded if present and matching, else computed and saved
  // ekfac
  std::string ekfac_path;        // factors file: loaded if present and matching, else computed and saved
  std::int64_t ekfac_samples = 1;  // sampled labels per example for the Fisher factors
};

class InverseHvp {
 public:
  virtual ~InverseHvp() = default;
  virtual std::string name() const = 0;
  // COLLECTIVE. Prepares what the solver needs once (λ_max, H, eigenpairs,
  // factors). Called by make_inverse_hvp.
  virtual void setup() = 0;
  // COLLECTIVE. (H + λI)⁻¹ V, V [m,P] f64 -> [m,P] f64.
  virtual torch::Tensor apply(const torch::Tensor& v) = 0;
  // True when apply() needs no communication and no training data after
  // setup (exact, arnoldi, ekfac: a stored operator), so ranks may apply it
  // to DIFFERENT vectors (self-influence over each rank's own rows). False
  // for lissa and cg, whose apply() is COLLECTIVE.
  virtual bool apply_is_local() const { return false; }
  // Settings and what setup/apply measured (λ_max, scale, iterations,
  // residuals, timings) as one JSON object text, for the .meta.json.
  virtual std::string report_json() const = 0;
};

// COLLECTIVE. UsageError for an unknown solver or bad settings. Calls setup().
std::unique_ptr<InverseHvp> make_inverse_hvp(const SolverOptions& options, TrainingHessian& hessian);

// The EK-FAC solver (attrib/ekfac.cpp); make_inverse_hvp("ekfac") returns it.
// Not set up yet: make_inverse_hvp calls setup().
std::unique_ptr<InverseHvp> make_ekfac_inverse_hvp(const SolverOptions& options, TrainingHessian& hessian);

// COLLECTIVE. Largest eigenvalue of H by power iteration with HVPs over all
// rows (seeded start), `iterations` steps.
double estimate_lambda_max(TrainingHessian& hessian, std::int64_t iterations, std::uint64_t seed);

}  // namespace fathom::attrib
