// The reference solver: H formed explicitly from P HVP columns (blocks of
// unit vectors through full-corpus HVPs), symmetrised, eigendecomposed;
// (H + λI)⁻¹ applied in the eigenbasis (docs/methods.md §4).
#include <algorithm>

#include "fathom/core/error.h"
#include "fathom/core/progress.h"
#include "solvers.h"

namespace fathom::attrib::detail {
namespace {

class Exact final : public InverseHvp {
 public:
  Exact(const SolverOptions& o, TrainingHessian& h) : o_(o), h_(h) {
    if (h.dim() > o.max_exact_dim)
      throw UsageError("exact: the parameter list has P = " + std::to_string(h.dim()) +
                       " values; the explicit Hessian is limited to --max-exact-dim " +
                       std::to_string(o.max_exact_dim) + " (P² doubles and P HVPs): select fewer parameters "
                       "(--params) or use --solver cg, lissa, arnoldi or ekfac");
  }
  std::string name() const override { return "exact"; }

  void setup() override {
    auto t0 = std::chrono::steady_clock::now();
    const std::int64_t P = h_.dim();
    torch::Tensor hessian = torch::empty({P, P}, torch::kDouble);
    const std::int64_t block = 32;
    Progress progress("exact Hessian", P, "columns");
    for (std::int64_t c = 0; c < P; c += block) {
      const std::int64_t n = std::min(block, P - c);
      torch::Tensor unit = torch::zeros({n, P}, torch::kDouble);
      for (std::int64_t k = 0; k < n; ++k) unit[k][c + k] = 1.0;
      hessian.narrow(0, c, n).copy_(h_.full_hvp(unit));
      progress.advance(n);
    }
    progress.finish();
    hessian = 0.5 * (hessian + hessian.t());
    auto [evals, evecs] = torch::linalg::eigh(hessian, "L");
    eigenvalues_ = evals;
    eigenvectors_ = evecs;
    lambda_min_ = evals[0].item<double>();
    lambda_max_ = evals[P - 1].item<double>();
    if (!(lambda_min_ + o_.damping > 0))
      throw UsageError("exact: H + λI is not positive definite (smallest Hessian eigenvalue " +
                       std::to_string(lambda_min_) + ", damping " + std::to_string(o_.damping) +
                       "); raise --damping above " + std::to_string(-lambda_min_));
    setup_seconds_ = seconds_since(t0);
  }

  torch::Tensor apply(const torch::Tensor& v) override {
    const torch::Tensor coeff = v.to(torch::kDouble).matmul(eigenvectors_) / (eigenvalues_ + o_.damping);
    torch::Tensor out = coeff.matmul(eigenvectors_.t());
    require_finite(out, "exact", "raise --damping");
    return out;
  }

  bool apply_is_local() const override { return true; }

  std::string report_json() const override {
    nlohmann::json j = {{"solver", "exact"},        {"damping", o_.damping},       {"dim", h_.dim()},
                        {"lambda_min", lambda_min_}, {"lambda_max", lambda_max_},
                        {"condition", (lambda_max_ + o_.damping) / (lambda_min_ + o_.damping)},
                        {"setup_seconds", setup_seconds_}};
    return j.dump();
  }


 private:
  SolverOptions o_;
  TrainingHessian& h_;
  torch::Tensor eigenvalues_, eigenvectors_;
  double lambda_min_ = 0, lambda_max_ = 0, setup_seconds_ = 0;
};

}  // namespace

std::unique_ptr<InverseHvp> make_exact(const SolverOptions& o, TrainingHessian& h) {
  return std::make_unique<Exact>(o, h);
}

}  // namespace fathom::attrib::detail
