#include "fathom/attrib/inverse_hvp.h"

#include <algorithm>

#include "fathom/core/error.h"
#include "fathom/core/log.h"
#include "solvers.h"

namespace fathom::attrib {
namespace detail {

void require_finite(const torch::Tensor& x, const std::string& solver, const std::string& hint) {
  if (!torch::isfinite(x).all().item<bool>())
    throw UsageError(solver + ": the inverse-HVP estimate is not finite (NaN or inf); " + hint);
}

torch::Tensor seeded_normal(std::int64_t m, std::int64_t p, std::uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return torch::randn({m, p}, gen, torch::TensorOptions().dtype(torch::kDouble));
}

}  // namespace detail

double estimate_lambda_max(TrainingHessian& hessian, std::int64_t iterations, std::uint64_t seed) {
  // Power iteration on a fixed sample of rows (at most 4096): a pass over the
  // whole corpus per step would cost more than the solve it scales.
  const std::vector<std::int64_t> rows = hessian.sample_rows(seed ^ 0x5eedu, -1, 4096);
  torch::Tensor v = detail::seeded_normal(1, hessian.dim(), seed);
  v /= v.norm();
  double lambda = 0;
  for (std::int64_t i = 0; i < std::max<std::int64_t>(iterations, 1); ++i) {
    torch::Tensor hv = hessian.hvp(v, rows);
    lambda = (hv * v).sum().item<double>();
    const double norm = hv.norm().item<double>();
    if (!(norm > 0) || !std::isfinite(norm)) break;
    v = hv / norm;
  }
  return lambda;
}

std::unique_ptr<InverseHvp> make_inverse_hvp(const SolverOptions& options, TrainingHessian& hessian) {
  if (!(options.damping >= 0)) throw UsageError("--damping must be >= 0");
  std::unique_ptr<InverseHvp> solver;
  if (options.solver == "lissa") solver = detail::make_lissa(options, hessian);
  else if (options.solver == "cg") solver = detail::make_cg(options, hessian);
  else if (options.solver == "exact") solver = detail::make_exact(options, hessian);
  else if (options.solver == "arnoldi") solver = detail::make_arnoldi(options, hessian);
  else if (options.solver == "ekfac") solver = make_ekfac_inverse_hvp(options, hessian);
  else
    throw UsageError("--solver: unknown solver '" + options.solver + "' (expected lissa, cg, exact, arnoldi or ekfac)");
  solver->setup();
  return solver;
}

}  // namespace fathom::attrib
