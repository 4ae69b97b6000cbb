// Arnoldi (Schioppa et al. 2022) in its symmetric form, Lanczos with full
// re-orthogonalisation: k steps of full-corpus HVPs from a seeded start give
// a tridiagonal T whose top-r Ritz pairs (λ_j, u_j) approximate H's top
// eigenpairs; (H + λI)⁻¹v ≈ Σ_j u_j u_jᵀ v / (λ_j + λ), the components
// outside the subspace dropped (docs/methods.md §4). The pairs are saved and
// reused across queries and runs.
#include <filesystem>

#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"
#include "fathom/core/progress.h"
#include "solvers.h"

namespace fathom::attrib::detail {
namespace {

class Arnoldi final : public InverseHvp {
 public:
  Arnoldi(const SolverOptions& o, TrainingHessian& h) : o_(o), h_(h) {
    if (o.rank < 1) throw UsageError("--rank must be >= 1");
    steps_ = o.lanczos_steps > 0 ? o.lanczos_steps : 2 * o.rank;
    steps_ = std::min(steps_, h.dim());
    if (steps_ < std::min(o.rank, h.dim()))
      throw UsageError("--lanczos-steps must be >= --rank (" + std::to_string(o.rank) + ")");
  }
  std::string name() const override { return "arnoldi"; }

  void setup() override {
    auto t0 = std::chrono::steady_clock::now();
    if (!o_.arnoldi_path.empty() && std::filesystem::exists(o_.arnoldi_path)) {
      load();
    } else {
      compute();
      if (!o_.arnoldi_path.empty() && h_.comm().rank() == 0) save();
      h_.comm().barrier();
    }
    // Eigenpairs with λ_j + λ <= 0 would flip signs or blow up: dropped.
    const torch::Tensor keep = (values_ + o_.damping) > 0;
    dropped_ = values_.numel() - keep.sum().item<std::int64_t>();
    if (dropped_ > 0) {
      values_ = values_.index({keep});
      vectors_ = vectors_.index({torch::indexing::Slice(), keep});
    }
    setup_seconds_ = seconds_since(t0);
  }

  torch::Tensor apply(const torch::Tensor& v) override {
    torch::Tensor coeff = v.to(torch::kDouble).matmul(vectors_) / (values_ + o_.damping);
    torch::Tensor out = coeff.matmul(vectors_.t());
    require_finite(out, "arnoldi", "raise --damping");
    return out;
  }

  bool apply_is_local() const override { return true; }

  std::string report_json() const override {
    nlohmann::json j = {{"solver", "arnoldi"},
                        {"damping", o_.damping},
                        {"rank", values_.numel()},
                        {"rank_requested", o_.rank},
                        {"lanczos_steps", steps_},
                        {"seed", o_.seed},
                        {"dropped_nonpositive", dropped_},
                        {"restarts", restarts_},
                        {"top_eigenvalue", values_.numel() ? values_.max().item<double>() : 0.0},
                        {"smallest_kept_eigenvalue", values_.numel() ? values_.min().item<double>() : 0.0},
                        {"loaded_from", loaded_ ? o_.arnoldi_path : ""},
                        {"saved_to", (!loaded_ && !o_.arnoldi_path.empty()) ? o_.arnoldi_path : ""},
                        {"outside_subspace", "dropped"},
                        {"setup_seconds", setup_seconds_}};
    return j.dump();
  }

 private:
  std::string header() const {
    nlohmann::json j = {{"format", "fathom-arnoldi"}, {"format_version", 1}, {"fingerprint", o_.fingerprint},
                        {"dim", h_.dim()},            {"rank", o_.rank},     {"lanczos_steps", steps_},
                        {"seed", o_.seed}};
    return j.dump();
  }

  void compute() {
    const std::int64_t P = h_.dim();
    torch::Tensor Q = torch::zeros({steps_, P}, torch::kDouble);
    std::vector<double> alpha, beta;
    torch::Tensor q = seeded_normal(1, P, o_.seed)[0];
    q /= q.norm();
    Progress progress("arnoldi (Lanczos)", steps_, "HVPs");
    for (std::int64_t k = 0; k < steps_; ++k) {
      Q[k] = q;
      torch::Tensor w = h_.full_hvp(q.unsqueeze(0))[0];
      const double a = w.dot(q).item<double>();
      alpha.push_back(a);
      // Full re-orthogonalisation (twice) against every basis vector so far:
      // plain three-term Lanczos loses orthogonality within a few dozen steps.
      const torch::Tensor basis = Q.narrow(0, 0, k + 1);
      for (int pass = 0; pass < 2; ++pass) w -= basis.t().matmul(basis.matmul(w));
      double b = w.norm().item<double>();
      progress.advance();
      if (k + 1 == steps_) break;
      if (b < 1e-10 * std::max(1.0, std::abs(a))) {
        // The Krylov space is invariant (e.g. parameters the loss does not
        // reach span H's null space): restart from a fresh seeded direction
        // orthogonal to the basis, with a zero coupling in T.
        w = seeded_normal(1, P, o_.seed + std::uint64_t(k) + 1)[0];
        for (int pass = 0; pass < 2; ++pass) w -= basis.t().matmul(basis.matmul(w));
        if (w.norm().item<double>() < 1e-12) break;  // the basis spans everything
        ++restarts_;
        beta.push_back(0.0);
        q = w / w.norm();
        continue;
      }
      beta.push_back(b);
      q = w / b;
    }
    progress.finish();
    const std::int64_t n = std::int64_t(alpha.size());
    torch::Tensor T = torch::zeros({n, n}, torch::kDouble);
    for (std::int64_t i = 0; i < n; ++i) {
      T[i][i] = alpha[std::size_t(i)];
      if (i + 1 < n) T[i][i + 1] = T[i + 1][i] = beta[std::size_t(i)];
    }
    auto [evals, evecs] = torch::linalg::eigh(T, "L");  // ascending
    const std::int64_t r = std::min(o_.rank, n);
    values_ = evals.narrow(0, n - r, r).flip(0).contiguous();
    vectors_ = Q.narrow(0, 0, n).t().matmul(evecs.narrow(1, n - r, r).flip(1)).contiguous();  // [P, r]
  }

  void save() const {
    const std::string tmp = o_.arnoldi_path + ".tmp";
    torch::save(std::vector<torch::Tensor>{values_, vectors_}, tmp);
    std::filesystem::rename(tmp, o_.arnoldi_path);
    write_file_atomic(o_.arnoldi_path + ".json", header());
  }

  void load() {
    const std::string side = o_.arnoldi_path + ".json";
    if (!std::filesystem::exists(side))
      throw InputError(o_.arnoldi_path, "no " + side + " beside it (not written by fathom's arnoldi solver?)");
    const nlohmann::json want = nlohmann::json::parse(header());
    nlohmann::json have;
    try {
      have = nlohmann::json::parse(read_file(side));
    } catch (const nlohmann::json::exception& e) {
      throw InputError(side, std::string("not valid JSON: ") + e.what());
    }
    for (const char* key : {"format", "format_version", "fingerprint", "dim", "rank", "lanczos_steps", "seed"})
      if (have.value(key, nlohmann::json()) != want[key])
        throw InputError(o_.arnoldi_path, std::string("saved eigenpairs do not match this run: field '") + key + "' is " +
                         have.value(key, nlohmann::json()).dump() + ", this run needs " + want[key].dump() +
                         " (delete the file to recompute)");
    std::vector<torch::Tensor> t;
    torch::load(t, o_.arnoldi_path);
    if (t.size() != 2 || t[1].dim() != 2 || t[1].size(0) != h_.dim())
      throw InputError(o_.arnoldi_path, "eigenpair file is damaged (delete it to recompute)");
    values_ = t[0].to(torch::kDouble);
    vectors_ = t[1].to(torch::kDouble);
    loaded_ = true;
  }

  SolverOptions o_;
  TrainingHessian& h_;
  std::int64_t steps_ = 0, dropped_ = 0, restarts_ = 0;
  torch::Tensor values_, vectors_;  // [r] descending, [P, r]
  bool loaded_ = false;
  double setup_seconds_ = 0;
};

}  // namespace

std::unique_ptr<InverseHvp> make_arnoldi(const SolverOptions& o, TrainingHessian& h) {
  return std::make_unique<Arnoldi>(o, h);
}

}  // namespace fathom::attrib::detail
