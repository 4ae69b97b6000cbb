#pragma once
// Private to attrib: the inverse-HVP solvers behind make_inverse_hvp
// (inverse_hvp.h), one file each, and what they share.
#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "fathom/attrib/inverse_hvp.h"

namespace fathom::attrib::detail {

std::unique_ptr<InverseHvp> make_lissa(const SolverOptions& o, TrainingHessian& h);
std::unique_ptr<InverseHvp> make_cg(const SolverOptions& o, TrainingHessian& h);
std::unique_ptr<InverseHvp> make_exact(const SolverOptions& o, TrainingHessian& h);
std::unique_ptr<InverseHvp> make_arnoldi(const SolverOptions& o, TrainingHessian& h);

// Throws fathom::Error naming the solver when `x` holds a NaN or inf (no
// solver may return one).
void require_finite(const torch::Tensor& x, const std::string& solver, const std::string& hint);

// Seconds since `start`.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// A seeded standard-normal [m,P] f64 block, the same on every rank.
torch::Tensor seeded_normal(std::int64_t m, std::int64_t p, std::uint64_t seed);

}  // namespace fathom::attrib::detail
