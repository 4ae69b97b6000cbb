// Conjugate gradient on (H + λI) x = v for each of the m right-hand sides
// together: one full-corpus HVP of the still-active directions per
// iteration (docs/methods.md §4).
#include <cmath>

#include "fathom/core/error.h"
#include "fathom/core/progress.h"
#include "solvers.h"

namespace fathom::attrib::detail {
namespace {

class ConjugateGradient final : public InverseHvp {
 public:
  ConjugateGradient(const SolverOptions& o, TrainingHessian& h) : o_(o), h_(h) {
    if (!(o.tolerance > 0)) throw UsageError("--tolerance must be > 0");
    if (o.max_iterations < 1) throw UsageError("--max-iterations must be >= 1");
  }
  std::string name() const override { return "cg"; }
  void setup() override {}

  torch::Tensor apply(const torch::Tensor& v_in) override {
    auto t0 = std::chrono::steady_clock::now();
    const torch::Tensor b = v_in.to(torch::kDouble);
    const std::int64_t m = b.size(0);
    torch::Tensor x = torch::zeros_like(b);
    torch::Tensor r = b.clone();
    torch::Tensor p = r.clone();
    torch::Tensor rr = (r * r).sum(1);
    const torch::Tensor b_norm = b.norm(2, 1).clamp_min(1e-300);
    std::vector<bool> active(std::size_t(m), true);
    std::int64_t iterations = 0;
    Progress progress("cg", o_.max_iterations, "iterations");
    for (; iterations < o_.max_iterations; ++iterations) {
      std::vector<std::int64_t> live;
      for (std::int64_t j = 0; j < m; ++j) {
        const double rel = std::sqrt(rr[j].item<double>()) / b_norm[j].item<double>();
        active[std::size_t(j)] = rel > o_.tolerance;
        if (active[std::size_t(j)]) live.push_back(j);
      }
      if (live.empty()) break;
      const torch::Tensor idx = torch::tensor(live, torch::kLong);
      const torch::Tensor pl = p.index_select(0, idx);
      const torch::Tensor ap = h_.full_hvp(pl) + o_.damping * pl;
      const torch::Tensor pap = (pl * ap).sum(1);
      for (std::int64_t k = 0; k < idx.size(0); ++k)
        if (!(pap[k].item<double>() > 0))
          throw UsageError("cg: H + λI is not positive definite along a search direction (pᵀ(H+λI)p = " +
                           std::to_string(pap[k].item<double>()) +
                           "); raise --damping above minus the most negative Hessian eigenvalue");
      const torch::Tensor alpha = rr.index_select(0, idx) / pap;
      x.index_add_(0, idx, alpha.unsqueeze(1) * pl);
      const torch::Tensor r_new = r.index_select(0, idx) - alpha.unsqueeze(1) * ap;
      const torch::Tensor rr_new = (r_new * r_new).sum(1);
      const torch::Tensor beta = rr_new / rr.index_select(0, idx);
      r.index_copy_(0, idx, r_new);
      p.index_copy_(0, idx, r_new + beta.unsqueeze(1) * pl);
      rr.index_copy_(0, idx, rr_new);
      progress.advance();
    }
    progress.finish();
    double worst = 0;
    for (std::int64_t j = 0; j < m; ++j) worst = std::max(worst, std::sqrt(rr[j].item<double>()) / b_norm[j].item<double>());
    if (!(worst <= o_.tolerance))
      throw UsageError("cg: not converged after " + std::to_string(o_.max_iterations) +
                       " iterations (relative residual " + std::to_string(worst) + " > --tolerance " +
                       std::to_string(o_.tolerance) + "); raise --max-iterations or --damping");
    require_finite(x, "cg", "raise --damping");
    iterations_total_ += iterations;
    max_iterations_seen_ = std::max(max_iterations_seen_, iterations);
    worst_residual_ = std::max(worst_residual_, worst);
    apply_seconds_ += seconds_since(t0);
    ++applies_;
    return x;
  }

  std::string report_json() const override {
    nlohmann::json j = {{"solver", "cg"},
                        {"damping", o_.damping},
                        {"tolerance", o_.tolerance},
                        {"max_iterations", o_.max_iterations},
                        {"iterations", max_iterations_seen_},
                        {"iterations_total", iterations_total_},
                        {"relative_residual", worst_residual_},
                        {"apply_seconds", apply_seconds_},
                        {"applies", applies_}};
    return j.dump();
  }

 private:
  SolverOptions o_;
  TrainingHessian& h_;
  std::int64_t iterations_total_ = 0, max_iterations_seen_ = 0, applies_ = 0;
  double worst_residual_ = 0, apply_seconds_ = 0;
};

}  // namespace

std::unique_ptr<InverseHvp> make_cg(const SolverOptions& o, TrainingHessian& h) {
  return std::make_unique<ConjugateGradient>(o, h);
}

}  // namespace fathom::attrib::detail
