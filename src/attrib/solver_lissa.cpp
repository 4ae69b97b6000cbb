// LiSSA (docs/methods.md §4): h_0 = v, h_j = v + h_{j-1} − (H_j + λ) h_{j-1} / s,
// H⁻¹v ≈ h_depth / s. The fixed point is h = s (H + λI)⁻¹ v, so the damping
// here is the same λ every solver uses (the reference recursion's
// (1 − λ_ref) h − H h / s damps by s·λ_ref instead).
#include <algorithm>
#include <cmath>

#include "fathom/comm/collective_check.h"
#include "fathom/core/error.h"
#include "fathom/core/log.h"
#include "fathom/core/progress.h"
#include "solvers.h"

namespace fathom::attrib::detail {
namespace {

class Lissa final : public InverseHvp {
 public:
  Lissa(const SolverOptions& o, TrainingHessian& h) : o_(o), h_(h) {
    if (o.depth < 1) throw UsageError("--depth must be >= 1");
    if (o.repeats < 1) throw UsageError("--repeats must be >= 1");
    if (o.batch < 1) throw UsageError("--batch must be >= 1");
    if (o.scale < 0) throw UsageError("--scale must be > 0 (or 0 for automatic)");
  }
  std::string name() const override { return "lissa"; }

  void setup() override {
    auto t0 = std::chrono::steady_clock::now();
    lambda_max_ = estimate_lambda_max(h_, o_.power_iterations, o_.seed);
    scale_ = o_.scale > 0 ? o_.scale : 1.5 * (std::max(lambda_max_, 0.0) + o_.damping);
    if (!(scale_ > 0)) scale_ = 1.0;
    setup_seconds_ = seconds_since(t0);
    spdlog::info("lissa: λ_max ≈ {:.6g} (power iteration, {} steps), scale s = {:.6g}{}, damping {}, depth {} x {} repeats",
              lambda_max_, o_.power_iterations, scale_, o_.scale > 0 ? "" : " (auto)", o_.damping, o_.depth,
              o_.repeats);
  }

  torch::Tensor apply(const torch::Tensor& v) override {
    auto t0 = std::chrono::steady_clock::now();
    comm::Communicator& comm = h_.comm();
    // Repeats are independent: with at least as many repeats as ranks each
    // rank runs its own (whole mini-batches, no communication per step);
    // otherwise every rank takes part in every HVP (the batch is split).
    const bool by_repeat = o_.repeats >= comm.size() && comm.size() > 1;
    torch::Tensor sum = torch::zeros_like(v, torch::kDouble);
    Progress progress("lissa", o_.depth * o_.repeats, "steps");
    auto run_repeats = [&] {
      for (std::int64_t r = 0; r < o_.repeats; ++r) {
        if (by_repeat && r % comm.size() != comm.rank()) continue;
        sum += run_one(v.to(torch::kDouble), r, by_repeat, progress);
      }
    };
    if (!by_repeat) {
      run_repeats();
    } else {
      // A repeat diverging on one rank must stop every rank.
      comm::collective_check(comm, "lissa repeats", run_repeats);
      sum = sum.contiguous();
      comm.all_reduce(sum.data_ptr<double>(), sum.numel(), comm::DType::f64, comm::ReduceOp::sum);
    }
    progress.finish();
    apply_seconds_ += seconds_since(t0);
    ++applies_;
    torch::Tensor out = sum / double(o_.repeats);
    require_finite(out, "lissa", hint());
    return out;
  }

  std::string report_json() const override {
    nlohmann::json j = {{"solver", "lissa"},       {"damping", o_.damping},        {"depth", o_.depth},
                        {"repeats", o_.repeats},    {"batch", o_.batch},            {"seed", o_.seed},
                        {"scale", scale_},          {"scale_auto", o_.scale <= 0},  {"lambda_max", lambda_max_},
                        {"power_iterations", o_.power_iterations},
                        {"recursion", "h_j = v + h_{j-1} - (H_j + damping) h_{j-1} / scale; result h_depth / scale"},
                        {"setup_seconds", setup_seconds_}, {"apply_seconds", apply_seconds_}, {"applies", applies_}};
    return j.dump();
  }

 private:
  std::string hint() const {
    return "the recursion diverged: raise --scale above the largest Hessian eigenvalue (estimated λ_max " +
           std::to_string(lambda_max_) + ", scale used " + std::to_string(scale_) +
           "), raise --damping, or use --solver cg";
  }

  torch::Tensor run_one(const torch::Tensor& v, std::int64_t repeat, bool local, Progress& progress) {
    // Each repeat draws its own mini-batch stream; step j of repeat r is
    // batch (r * depth + j) of the seeded stream, so the estimator depends
    // on the seed only, not on the rank count or on which rank runs it.
    torch::Tensor h = v.clone();
    const double v_norm = v.norm().item<double>();
    // With H + λ ⪰ λ the iterates stay below ‖v‖ s / λ; far above that the
    // recursion is diverging.
    const double bound = 10.0 * std::max(v_norm, 1e-300) * scale_ / std::max(o_.damping, 1e-12) * 1e3;
    for (std::int64_t j = 0; j < o_.depth; ++j) {
      const std::vector<std::int64_t> rows = h_.sample_rows(o_.seed, repeat * o_.depth + j, o_.batch);
      torch::Tensor hh = local ? h_.hvp_local(h, rows) : h_.hvp(h, rows);
      h = v + h - (hh + o_.damping * h) / scale_;
      if (j % 16 == 0 || j + 1 == o_.depth) {
        const double norm = h.norm().item<double>();
        if (!std::isfinite(norm) || norm > bound)
          throw UsageError("lissa: repeat " + std::to_string(repeat) + ", step " + std::to_string(j) +
                           ": ‖h‖ = " + std::to_string(norm) + "; " + hint());
      }
      progress.advance();
    }
    return h / scale_;
  }

  SolverOptions o_;
  TrainingHessian& h_;
  double lambda_max_ = 0, scale_ = 0, setup_seconds_ = 0, apply_seconds_ = 0;
  std::int64_t applies_ = 0;
};

}  // namespace

std::unique_ptr<InverseHvp> make_lissa(const SolverOptions& o, TrainingHessian& h) {
  return std::make_unique<Lissa>(o, h);
}

}  // namespace fathom::attrib::detail
