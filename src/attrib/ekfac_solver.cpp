// The EK-FAC inverse-HVP solver (inverse_hvp.h): factors loaded from
// SolverOptions::ekfac_path when its fingerprint matches this run, else
// computed over the training rows (ekfac.h) and saved there.
#include <filesystem>

#include "ekfac_internal.h"
#include "fathom/attrib/ekfac.h"
#include "fathom/attrib/inverse_hvp.h"
#include "fathom/core/error.h"
#include "fathom/core/log.h"
#include "solvers.h"

namespace fathom::attrib {
namespace {

// COLLECTIVE. Runs `f` on rank 0 only; an exception there is rethrown on
// every rank (as InputError when it was one), so no rank waits forever.
template <class F>
void on_root(comm::Communicator& comm, F f) {
  std::string error, file, kind;
  if (comm.is_root()) {
    try {
      f();
    } catch (const InputError& e) {
      kind = "input", file = e.file(), error = e.problem().empty() ? e.what() : e.problem();
    } catch (const std::exception& e) {
      kind = "other", error = e.what();
    }
  }
  comm.broadcast(kind, 0);
  comm.broadcast(error, 0);
  comm.broadcast(file, 0);
  if (kind == "input") throw InputError(file, error);
  if (!kind.empty()) throw Error(error);
}

class Ekfac final : public InverseHvp {
 public:
  Ekfac(const SolverOptions& o, TrainingHessian& h) : o_(o), h_(h) {
    if (!(o.damping > 0))
      throw UsageError("--solver ekfac needs --damping > 0 (EK-FAC eigenvalues can be 0), got " +
                       std::to_string(o.damping));
    if (o.ekfac_samples < 1) throw UsageError("--ekfac-samples must be >= 1");
    settings_.seed = o.seed;
    settings_.samples = o.ekfac_samples;
    settings_.batch_rows = h.batch_rows();
    settings_.fingerprint = o.fingerprint;
  }
  std::string name() const override { return "ekfac"; }

  void setup() override {
    const auto t0 = std::chrono::steady_clock::now();
    comm::Communicator& comm = h_.comm();
    const std::string& path = o_.ekfac_path;
    bool load = false;
    if (!path.empty()) {
      const EkfacFactors structure = ekfac_structure(h_.model(), h_.layout(), h_.data());
      const auto expected = ekfac_fingerprint(h_.model(), h_.layout(), structure, settings_, h_.rows());
      on_root(comm, [&] {
        if (!std::filesystem::exists(path)) return;
        const std::string diff = fingerprint_difference(read_ekfac_fingerprint(path), expected);
        if (!diff.empty())
          throw InputError(path, "these EK-FAC factors were computed for another setting (" + diff +
                                     "); remove the file or give another --ekfac-file");
        load = true;
      });
      std::int64_t flag = load ? 1 : 0;
      comm.broadcast(&flag, 1, comm::DType::i64, 0);
      load = flag != 0;
    }
    if (load) {
      factors_ = load_ekfac_factors(path);
      loaded_ = true;
      spdlog::info("ekfac: factors loaded from {}", path);
    } else {
      factors_ = compute_ekfac_factors(h_.model(), h_.layout(), h_.data(), comm, settings_);
      if (!path.empty()) {
        on_root(comm, [&] { save_ekfac_factors(path, factors_); });
        spdlog::info("ekfac: factors saved to {}", path);
      }
    }
    setup_seconds_ = detail::seconds_since(t0);
  }

  torch::Tensor apply(const torch::Tensor& v) override {
    torch::Tensor out = ekfac_solve(factors_, h_.layout(), v.to(torch::kDouble), o_.damping);
    detail::require_finite(out, "ekfac", "raise --damping");
    return out;
  }

  // The factors are stored: ranks may apply them to their own rows.
  bool apply_is_local() const override { return true; }

  std::string report_json() const override {
    nlohmann::json blocks = nlohmann::json::array(), diagonal = nlohmann::json::array();
    for (const auto& b : factors_.blocks) {
      nlohmann::json jb = {{"name", b.name}, {"out", b.out}, {"in", b.in}, {"bias", b.bias >= 0}};
      if (b.lambda.defined() && b.lambda.numel() > 0) {
        jb["lambda_max"] = b.lambda.max().item<double>();
        jb["lambda_mean"] = b.lambda.mean().item<double>();
      }
      blocks.push_back(jb);
    }
    for (int i : factors_.diagonal) diagonal.push_back(h_.layout().params()[std::size_t(i)].name);
    nlohmann::json j = {{"solver", "ekfac"},
                        {"damping", o_.damping},
                        {"fisher", "true Fisher: labels sampled from the model's predictive distribution"},
                        {"samples", settings_.samples},
                        {"seed", settings_.seed},
                        {"rows", factors_.rows},
                        {"blocks", blocks},
                        {"diagonal_fallback", diagonal},
                        {"diagonal_fallback_note",
                         diagonal.empty() ? "" : "parameters that are not linear-layer weights/biases use E[g^2] per coordinate"},
                        {"loaded_from", loaded_ ? o_.ekfac_path : ""},
                        {"saved_to", (!loaded_ && !o_.ekfac_path.empty()) ? o_.ekfac_path : ""},
                        {"seconds", factors_.seconds},
                        {"setup_seconds", setup_seconds_}};
    return j.dump();
  }

 private:
  SolverOptions o_;
  TrainingHessian& h_;
  EkfacSettings settings_;
  EkfacFactors factors_;
  bool loaded_ = false;
  double setup_seconds_ = 0;
};

}  // namespace

std::unique_ptr<InverseHvp> make_ekfac_inverse_hvp(const SolverOptions& options, TrainingHessian& hessian) {
  return std::make_unique<Ekfac>(options, hessian);
}

}  // namespace fathom::attrib
