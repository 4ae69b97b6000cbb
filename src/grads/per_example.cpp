// Per-example gradients: vectorised from layer taps, or the naive loop
// (contract in per_example.h).
#include "fathom/grads/per_example.h"

#include <map>
#include <tuple>

#include "fathom/core/error.h"
#include "fathom/core/log.h"
#include "fathom/data/example.h"
#include "fathom/model/batching.h"
#include "fathom/model/taps.h"

namespace fathom::grads {
namespace {

namespace F = torch::nn::functional;

torch::Tensor per_example_losses(const torch::Tensor& logits, const torch::Tensor& targets) {
  return F::cross_entropy(logits, targets, F::CrossEntropyFuncOptions().reduction(torch::kNone));
}

// Rows [B, n] of one parameter's per-example gradients -> its block of the
// output: the gradient columns, or (factorised projection) its projected ones.
struct Accumulator {
  torch::Tensor out;  // [B, D] or [B, k]
  const ParamLayout* layout;
  const FactorisedProjector* factorised;

  torch::Tensor block(int param) {
    if (factorised) return out.narrow(1, factorised->output_offset(param), factorised->output_width(param));
    const auto& p = layout->params()[std::size_t(param)];
    return out.narrow(1, p.offset, p.numel);
  }
  std::pair<torch::Tensor, torch::Tensor> factors(int param) const {
    return factorised->factors(param, out.scalar_type(), out.device());
  }
  // A vector-shaped gradient g [B,n] (bias, LayerNorm scale).
  void add_vector(int param, const torch::Tensor& g) {
    if (param < 0) return;
    torch::Tensor v = g;
    if (factorised) {
      auto [pr, pc] = factors(param);
      if (pr.defined()) v = torch::matmul(v, pr.t());
    }
    block(param).add_(v.reshape({v.size(0), -1}));
  }
  // A weight gradient Σ_t rows_t ⊗ cols_t with rows [B,T,r], cols [B,T,c]
  // (linear: rows = δ, cols = input; embedding: rows = one-hot ids).
  void add_outer(int param, const torch::Tensor& rows, const torch::Tensor& cols) {
    if (param < 0) return;
    torch::Tensor r = rows, c = cols;
    if (factorised) {
      auto [pr, pc] = factors(param);
      if (pr.defined()) r = torch::matmul(r, pr.t());
      if (pc.defined()) c = torch::matmul(c, pc.t());
    }
    block(param).add_(torch::bmm(r.transpose(1, 2), c).reshape({r.size(0), -1}));
  }
  // Embedding weight [V,E]: Σ_t onehot(ids_t) δ_tᵀ without the one-hot
  // (unless the row factor is the identity and there is a projection).
  void add_embedding(int param, const torch::Tensor& ids, const torch::Tensor& delta, std::int64_t vocab) {
    if (param < 0) return;
    const std::int64_t B = delta.size(0), E = delta.size(2);
    if (factorised) {
      auto [pr, pc] = factors(param);
      torch::Tensor rows = pr.defined() ? pr.t().index({ids})                                   // [B,T,k_r]
                                        : F::one_hot(ids, vocab).to(delta.scalar_type());      // [B,T,V]
      torch::Tensor c = pc.defined() ? torch::matmul(delta, pc.t()) : delta;
      block(param).add_(torch::bmm(rows.transpose(1, 2), c).reshape({B, -1}));
      return;
    }
    // Scatter-add straight into the output rows ([B, V*E] viewed as
    // [B, V, E]): no [B*V, E] temporary per batch.
    torch::Tensor target = block(param).view({B, vocab, E});
    torch::Tensor example = torch::arange(B, ids.options()).unsqueeze(1).expand_as(ids);
    target.index_put_({example, ids}, delta, /*accumulate=*/true);
  }
};

// [B, ...] -> [B, T, last] (T = product of the middle dims, 1 for [B, last]).
torch::Tensor as_sequence(const torch::Tensor& t) { return t.reshape({t.size(0), -1, t.size(-1)}); }

// For one compute(): parameters outside the layout stop requiring grad, so
// autograd records no graph below the lowest selected layer (for the
// classifier alone the encoder runs as plain inference) and no backward can
// wander into the encoder. Restored on exit, exceptions included.
class OnlySelectedRequireGrad {
 public:
  OnlySelectedRequireGrad(model::Model& model, const ParamLayout& layout) {
    for (auto& [name, tensor] : model.named_parameters())
      if (tensor.requires_grad() && layout.index_of(tensor) < 0) {
        tensor.requires_grad_(false);
        switched_.push_back(tensor);
      }
  }
  ~OnlySelectedRequireGrad() {
    for (auto& t : switched_) t.requires_grad_(true);
  }
  OnlySelectedRequireGrad(const OnlySelectedRequireGrad&) = delete;
  OnlySelectedRequireGrad& operator=(const OnlySelectedRequireGrad&) = delete;

 private:
  std::vector<torch::Tensor> switched_;
};

model::Batch row_of(const model::Batch& b, std::int64_t i, bool trim) {
  model::Batch r;
  std::int64_t length = b.ids.size(1);
  if (trim) length = std::max<std::int64_t>(1, b.mask[i].sum().item<std::int64_t>());
  auto slice = [&](const torch::Tensor& t) {
    return t.defined() ? t.narrow(0, i, 1).narrow(1, 0, length) : t;
  };
  r.ids = slice(b.ids);
  r.mask = slice(b.mask);
  r.type_ids = slice(b.type_ids);
  if (b.labels.defined()) r.labels = b.labels.narrow(0, i, 1);
  if (!b.rows.empty()) r.rows = {b.rows[std::size_t(i)]};
  return r;
}

}  // namespace

LossTarget parse_loss_target(const std::string& text) {
  if (text == "gold") return LossTarget::gold;
  if (text == "predicted") return LossTarget::predicted;
  throw UsageError("--target '" + text + "': expected gold or predicted");
}
const char* loss_target_name(LossTarget t) { return t == LossTarget::gold ? "gold" : "predicted"; }

GradientMethod parse_gradient_method(const std::string& text) {
  if (text == "vectorised" || text == "vectorized") return GradientMethod::vectorised;
  if (text == "loop") return GradientMethod::loop;
  throw UsageError("--method '" + text + "': expected vectorised or loop");
}

torch::Tensor loss_targets(const model::Batch& batch, const torch::Tensor& logits, LossTarget target) {
  if (target == LossTarget::predicted) return logits.argmax(1);
  if (!batch.labels.defined())
    throw InputError("corpus", "--target gold needs a gold label for every example, and these have none "
                               "(use --target predicted to explain the model's own predictions)");
  torch::Tensor missing = batch.labels.eq(data::kNoLabel).nonzero();
  if (missing.size(0) > 0) {
    const std::int64_t i = missing[0][0].item<std::int64_t>();
    const std::int64_t row = batch.rows.empty() ? i : batch.rows[std::size_t(i)];
    throw InputError("corpus", "record " + std::to_string(row) +
                                   " has no gold label; --target gold needs one for every example "
                                   "(or use --target predicted)");
  }
  return batch.labels.to(logits.device());
}

PerExampleGradients::PerExampleGradients(model::Model& model, ParamLayout layout, const Projector* projector,
                                         GradientMethod method)
    : model_(&model), layout_(std::move(layout)), projector_(projector), method_(method) {
  model_->train(false);
  if (projector_ && projector_->input_dim() != layout_.dim())
    throw UsageError("per-example gradients: the projector expects D = " + std::to_string(projector_->input_dim()) +
                     ", the parameters have D = " + std::to_string(layout_.dim()));
  for (auto& p : layout_.params())
    if (!p.tensor.requires_grad()) p.tensor.requires_grad_(true);
  if (method_ == GradientMethod::loop) loop_names_ = layout_.names();
}

std::int64_t PerExampleGradients::output_dim() const { return projector_ ? projector_->output_dim() : layout_.dim(); }

ExampleGradients PerExampleGradients::compute(const model::Batch& batch, LossTarget target) {
  return method_ == GradientMethod::loop ? compute_loop(batch, target) : compute_vectorised(batch, target);
}

namespace {

// Detached outputs of a forward, its predictions and the loss targets.
ExampleGradients outputs_and_targets(const model::Batch& batch, const model::ModelOutput& out, LossTarget target) {
  ExampleGradients r;
  r.logits = out.logits.detach();
  r.features = out.features.detach();
  r.predictions = r.logits.argmax(1);
  r.targets = loss_targets(batch, r.logits, target);
  return r;
}

// Which layout parameters the recorded calls of one forward cover; the
// classifier is covered by the contract (logits = features Wᵀ + b) even when
// no tap saw it.
detail::TapCoverage tap_coverage(const ParamLayout& layout, const std::vector<model::TapCall>& calls) {
  std::vector<bool> covered(layout.size(), false);
  for (const auto& c : calls)
    for (const auto& t : {c.weight, c.bias}) {
      const int i = layout.index_of(t);
      if (i >= 0) covered[std::size_t(i)] = true;
    }
  detail::TapCoverage cov;
  for (std::size_t i = 0; i < layout.size(); ++i) {
    if (layout.params()[i].name == "classifier.weight") cov.classifier_weight = int(i);
    if (layout.params()[i].name == "classifier.bias") cov.classifier_bias = int(i);
  }
  const auto untapped = [&](int i) { return i >= 0 && !covered[std::size_t(i)]; };
  cov.classifier_from_contract = untapped(cov.classifier_weight) || untapped(cov.classifier_bias);
  if (cov.classifier_weight >= 0) covered[std::size_t(cov.classifier_weight)] = true;
  if (cov.classifier_bias >= 0) covered[std::size_t(cov.classifier_bias)] = true;
  for (std::size_t i = 0; i < layout.size(); ++i)
    if (!covered[i]) cov.loop.push_back(int(i));
  return cov;
}

void log_coverage(const ParamLayout& layout, const std::vector<std::string>& loop_names) {
  if (loop_names.empty()) {
    spdlog::info("per-example gradients: all {} parameter(s) vectorised from layer taps", layout.size());
    return;
  }
  std::string names;
  for (const auto& n : loop_names) names += (names.empty() ? "" : ", ") + n;
  spdlog::warn("per-example gradients: {} parameter(s) have no layer tap and use one backward per example "
               "(slower): {}",
               loop_names.size(), names);
}

// The classifier as a linear tap call of this batch (features -> logits),
// for models whose classifier no tap recorded.
model::TapCall classifier_call(const ParamLayout& layout, const detail::TapCoverage& cov,
                               const torch::Tensor& features, const torch::Tensor& logits) {
  auto param = [&](int i) { return i >= 0 ? layout.params()[std::size_t(i)].tensor : torch::Tensor(); };
  return model::TapCall{model::TapKind::linear, param(cov.classifier_weight), param(cov.classifier_bias), features,
                        logits};
}

// Adds every tapped call's per-example gradients to `acc` (no autograd).
// A linear layer applied several times in one forward (an LSTM's recurrent
// weight, once per step) gets one Σ_t δ_t a_tᵀ over all its calls: one bmm
// with the steps concatenated, not one pass over its [B, r*c] block per step.
void accumulate_tapped(const ParamLayout& layout, const std::vector<model::TapCall>& calls,
                       const std::vector<torch::Tensor>& deltas, std::int64_t B, Accumulator& acc) {
  torch::NoGradGuard no_grad;
  // Keyed by (weight, bias) identity, since a call may carry an undefined
  // weight (the classifier with only its bias selected).
  // (A TorchScript matmul(x, W) weight, W [in,out], is its own group: its
  // gradient is Σ_t a_t δ_tᵀ.)
  std::map<std::tuple<const void*, const void*, bool>, std::vector<std::size_t>> linear_calls;
  for (std::size_t k = 0; k < calls.size(); ++k)
    if (calls[k].kind == model::TapKind::linear && deltas[k].defined())
      linear_calls[{calls[k].weight.unsafeGetTensorImpl(), calls[k].bias.unsafeGetTensorImpl(),
                    calls[k].weight_transposed}]
          .push_back(k);
  for (const auto& [layer, ks] : linear_calls) {
    const model::TapCall& c = calls[ks.front()];
    std::vector<torch::Tensor> ds, as;
    for (std::size_t k : ks) {
      ds.push_back(as_sequence(deltas[k]));
      as.push_back(as_sequence(calls[k].input));
    }
    torch::Tensor delta = ds.size() == 1 ? ds[0] : torch::cat(ds, 1);
    torch::Tensor input = as.size() == 1 ? as[0] : torch::cat(as, 1);
    if (c.weight_transposed)
      acc.add_outer(layout.index_of(c.weight), input, delta);
    else
      acc.add_outer(layout.index_of(c.weight), delta, input);
    acc.add_vector(layout.index_of(c.bias), delta.sum(1));
  }
  for (std::size_t k = 0; k < calls.size(); ++k) {
    const model::TapCall& c = calls[k];
    if (!deltas[k].defined()) continue;  // output unused by the loss: zero gradient
    const int w = layout.index_of(c.weight), b = layout.index_of(c.bias);
    torch::Tensor delta = as_sequence(deltas[k]);
    switch (c.kind) {
      case model::TapKind::linear:
        break;  // above
      case model::TapKind::embedding:
        acc.add_embedding(w, c.input.reshape({B, -1}), delta, c.weight.size(0));
        break;
      case model::TapKind::scale_shift:
        acc.add_vector(w, (delta * as_sequence(c.input)).sum(1));
        acc.add_vector(b, delta.sum(1));
        break;
    }
  }
}

}  // namespace

const detail::TapCoverage& PerExampleGradients::coverage(const std::vector<model::TapCall>& calls) {
  // Recomputed per batch (cheap): a TorchScript site can leave the taps at
  // run time (script_taps.h), and a stale coverage would drop its gradient.
  detail::TapCoverage now = tap_coverage(layout_, calls);
  if (!coverage_ || now.loop != coverage_->loop || now.classifier_from_contract != coverage_->classifier_from_contract) {
    coverage_ = std::move(now);
    loop_names_.clear();
    for (int i : coverage_->loop) loop_names_.push_back(layout_.params()[std::size_t(i)].name);
    log_coverage(layout_, loop_names_);
  }
  return *coverage_;
}

torch::Tensor PerExampleGradients::per_example_loop(const model::Batch& batch, const torch::Tensor& targets,
                                                    const std::vector<int>& loop, const torch::TensorOptions& opts) {
  const std::int64_t B = batch.size();
  torch::Tensor full = torch::zeros({B, layout_.dim()}, opts);
  std::vector<torch::Tensor> params;
  for (int i : loop) params.push_back(layout_.params()[std::size_t(i)].tensor);
  for (std::int64_t e = 0; e < B; ++e) {
    model::Batch one = row_of(batch, e, /*trim=*/false);
    torch::Tensor loss = per_example_losses(model_->forward(one).logits, targets.narrow(0, e, 1)).sum();
    auto g = torch::autograd::grad({loss}, params, {}, false, false, true);
    torch::NoGradGuard no_grad;
    for (std::size_t j = 0; j < loop.size(); ++j) {
      if (!g[j].defined()) continue;
      const auto& p = layout_.params()[std::size_t(loop[j])];
      full[e].narrow(0, p.offset, p.numel).copy_(g[j].reshape({-1}));
    }
  }
  return full;
}

ExampleGradients PerExampleGradients::compute_vectorised(const model::Batch& batch, LossTarget target) {
  torch::AutoGradMode grad_on(true);
  OnlySelectedRequireGrad only_selected(*model_, layout_);
  // One forward with the selected parameters' layers tapped.
  model::TapRecorder recorder;
  for (const auto& p : layout_.params()) recorder.watch(p.tensor);
  model::ModelOutput out;
  {
    model::TapScope scope(recorder);
    out = model_->forward(batch);
  }
  ExampleGradients r = outputs_and_targets(batch, out, target);
  torch::Tensor losses = per_example_losses(out.logits, r.targets);
  r.losses = losses.detach();

  std::vector<model::TapCall> calls = recorder.calls();
  const detail::TapCoverage& cov = coverage(calls);
  if (cov.classifier_from_contract) calls.push_back(classifier_call(layout_, cov, r.features, out.logits));

  // One backward to every recorded layer output, then closed-form
  // per-example gradients from the taps.
  const std::int64_t B = batch.size();
  auto* factorised = dynamic_cast<const FactorisedProjector*>(projector_);
  const torch::TensorOptions opts = r.logits.options();
  Accumulator acc{torch::zeros({B, factorised ? factorised->output_dim() : layout_.dim()}, opts), &layout_, factorised};
  std::vector<torch::Tensor> outputs;
  for (const auto& c : calls) outputs.push_back(c.output);
  std::vector<torch::Tensor> deltas;
  if (!outputs.empty())
    deltas = torch::autograd::grad({losses.sum()}, outputs, {}, /*retain_graph=*/false, /*create_graph=*/false,
                                   /*allow_unused=*/true);
  accumulate_tapped(layout_, calls, deltas, B, acc);

  // Parameters without a tap: one backward per example, placed in a [B, D]
  // row and projected like any other (P is linear).
  if (!cov.loop.empty()) {
    torch::Tensor full = per_example_loop(batch, r.targets, cov.loop, opts);
    torch::NoGradGuard no_grad;
    acc.out.add_(factorised ? projector_->project(full) : full);
  }
  torch::NoGradGuard no_grad;
  r.gradients = (projector_ && !factorised) ? projector_->project(acc.out) : acc.out;
  return r;
}

ExampleGradients PerExampleGradients::compute_loop(const model::Batch& batch, LossTarget target) {
  torch::AutoGradMode grad_on(true);
  std::vector<torch::Tensor> params;
  for (const auto& p : layout_.params()) params.push_back(p.tensor);
  const std::int64_t B = batch.size();
  std::vector<torch::Tensor> logits, features, rows;
  ExampleGradients r;
  for (std::int64_t e = 0; e < B; ++e) {
    model::Batch one = row_of(batch, e, /*trim=*/true);
    model::ModelOutput out = model_->forward(one);
    torch::Tensor t = loss_targets(one, out.logits.detach(), target);
    torch::Tensor loss = per_example_losses(out.logits, t).sum();
    auto g = torch::autograd::grad({loss}, params, {}, false, false, true);
    torch::NoGradGuard no_grad;
    torch::Tensor row = torch::zeros({layout_.dim()}, out.logits.options());
    for (std::size_t j = 0; j < params.size(); ++j)
      if (g[j].defined()) row.narrow(0, layout_.params()[j].offset, layout_.params()[j].numel).copy_(g[j].reshape({-1}));
    logits.push_back(out.logits.detach());
    features.push_back(out.features.detach());
    rows.push_back(row);
  }
  torch::NoGradGuard no_grad;
  r.logits = torch::cat(logits, 0);
  r.features = torch::cat(features, 0);
  r.predictions = r.logits.argmax(1);
  r.targets = loss_targets(batch, r.logits, target);
  r.losses = per_example_losses(r.logits, r.targets);
  torch::Tensor g = torch::stack(rows, 0);
  r.gradients = projector_ ? projector_->project(g) : g;
  return r;
}

}  // namespace fathom::grads
