// InfluenceLookup (lookup.h): `fathom influence` (full scan) for one example
// at a time, over a local communicator, reusing the pipeline's private steps
// (influence_internal.h): inputs and checks, training rows, scan of the cache.
#include <mutex>
#include <optional>

#include "fathom/attrib/lookup.h"
#include "fathom/attrib/training_hessian.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/core/log.h"
#include "fathom/core/strings.h"
#include "fathom/grads/per_example.h"
#include "fathom/model/batching.h"
#include "influence_internal.h"
#include "training_texts.h"

namespace fathom::attrib {

// Members in dependency order: each refers to the ones above it.
struct InfluenceLookup::Impl {
  std::unique_ptr<comm::Communicator> comm;
  InfluenceLookupOptions options;
  detail::InfluenceInputs in;
  std::optional<TrainingHessian> hessian;
  std::unique_ptr<InverseHvp> solver;
  std::optional<grads::PerExampleGradients> gradients;
  mutable std::mutex mu;  // the model, the gradients and the scan: one lookup at a time
};

InfluenceLookup::InfluenceLookup(const InfluenceLookupOptions& options) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.options = options;
  const std::string requested = options.solver.solver;
  if (requested == "lissa" || requested == "cg")
    throw UsageError("serve: --solver " + requested +
                     " is iterative and collective (seconds to minutes per request): serving needs a stored operator, "
                     "--solver exact, arnoldi or ekfac");
  if (options.hessian_batch < 1) throw UsageError("serve: --hessian-batch must be >= 1");
  if (options.snippet_chars < 0) throw UsageError("serve: --snippet must be >= 0 (0 = whole texts)");
  m.comm = comm::make_communicator("local");

  InfluenceOptions io;  // what load_influence_inputs reads (no queries)
  io.model_dir = options.model_dir;
  io.cache = options.cache;
  io.corpus = options.corpus;
  io.corpus_options = options.corpus_options;
  m.in = detail::load_influence_inputs(io, "serve --cache", *m.comm);

  // As influence(): the model in float64, the layout taken again after the dtype change.
  model::Model& model = *m.in.bundle.model;
  model.to(model.device(), torch::kDouble);
  model.train(false);
  m.in.layout = grads::ParamLayout::select(model, fathom::join(m.in.cache.params, ","));
  SolverOptions so = options.solver;
  if (so.solver.empty()) so.solver = m.in.layout.dim() <= so.max_exact_dim ? "exact" : "arnoldi";
  so.fingerprint = detail::solver_fingerprint(m.in, "float64");
  m.hessian.emplace(model, m.in.layout, detail::training_rows(m.in), *m.comm, options.hessian_batch);
  m.solver = make_inverse_hvp(so, *m.hessian);
  if (!m.solver->apply_is_local())
    throw UsageError("serve: the solver '" + so.solver + "' is not a stored operator; use exact, arnoldi or ekfac");
  m.gradients.emplace(model, m.in.layout, nullptr);
  spdlog::info("serve: influence over {} training rows, {} parameters, solver {}", m.in.cache.rows,
               m.in.layout.dim(), m.solver->name());
}

InfluenceLookup::~InfluenceLookup() = default;

std::int64_t InfluenceLookup::rows() const { return impl_->in.cache.rows; }
std::string InfluenceLookup::solver_name() const { return impl_->solver->name(); }
std::int64_t InfluenceLookup::param_count() const { return impl_->in.layout.dim(); }

nlohmann::ordered_json InfluenceLookup::lookup(const data::Example& example, std::int64_t top,
                                               const std::string& target) const {
  Impl& m = *impl_;
  const std::int64_t N = m.in.cache.rows;
  if (top < 1 || top > N)
    throw UsageError("top must be in [1, " + std::to_string(N) + "] (the cache's rows), got " + std::to_string(top));
  const model::Bundle& b = m.in.bundle;
  std::int64_t fixed_label = data::kNoLabel;
  if (target != "predicted") {
    fixed_label = b.label_index(target);
    if (fixed_label == data::kNoLabel)
      throw UsageError("target: '" + target + "' is not a label of the model [" + fathom::join(b.info.labels, ", ") +
                       "] (or predicted)");
  }
  data::Example e = example;
  e.label.reset();  // make_batch would check a label; the target decides the loss
  std::lock_guard<std::mutex> lock(m.mu);
  model::Batch batch = model::make_batch({e}, *b.tokenizer, b.info.max_length, b.info.labels, {0}).to(b.model->device());
  if (fixed_label != data::kNoLabel) batch.labels = torch::full({batch.size()}, fixed_label, torch::kLong);
  const grads::ExampleGradients g = m.gradients->compute(
      batch, fixed_label != data::kNoLabel ? grads::LossTarget::gold : grads::LossTarget::predicted);
  const torch::Tensor s = m.solver->apply(g.gradients.to(torch::kCPU).to(torch::kDouble));
  const torch::Tensor sp = (m.in.projector ? m.in.projector->project(s) : s) / double(N);
  const detail::TopLists lists = detail::scan_all(m.options.cache, sp, top, m.options.memory_budget, *m.comm, nullptr);
  auto entries = [&](const index::Neighbors& l, bool negated) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (std::int64_t j = 0; j < l.k; ++j) {
      const std::int64_t row = l.rows[std::size_t(j)];
      if (row < 0) continue;
      const double d = double(l.distances[std::size_t(j)]);
      const data::Example& t = m.in.training[std::size_t(row)];
      nlohmann::ordered_json x;
      x["id"] = t.id;
      x["label"] = t.label ? nlohmann::ordered_json(*t.label) : nlohmann::ordered_json();
      x["score"] = detail::round6(negated ? -d : d);
      x["text"] = detail::snippet(t.text_pair ? t.text + " [SEP] " + *t.text_pair : t.text, m.options.snippet_chars);
      out.push_back(std::move(x));
    }
    return out;
  };
  nlohmann::ordered_json j;
  j["prediction"] = b.info.labels[std::size_t(g.predictions[0].item<std::int64_t>())];
  j["target"] = b.info.labels[std::size_t(g.targets[0].item<std::int64_t>())];
  j["loss"] = detail::round6(g.losses.to(torch::kCPU).to(torch::kDouble)[0].item<double>());
  j["proponents"] = entries(lists.proponents, false);
  j["opponents"] = entries(lists.opponents_negated, true);
  return j;
}

}  // namespace fathom::attrib
