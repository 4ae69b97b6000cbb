// The per-layer (a, δ) stream (contract in layer_stream.h).
#include "fathom/grads/layer_stream.h"

#include <string>

#include "fathom/core/error.h"

namespace fathom::grads {
namespace {

// While alive, exactly the layout's parameters require grad: the forward
// records no graph below the lowest selected layer. Restored on exit.
class GradOnlyForLayout {
 public:
  GradOnlyForLayout(model::Model& model, const ParamLayout& layout) {
    for (auto& named : model.named_parameters()) {
      torch::Tensor& t = named.second;
      const bool want = layout.index_of(t) >= 0;
      if (t.requires_grad() != want) {
        t.requires_grad_(want);
        flipped_.push_back(t);
      }
    }
  }
  ~GradOnlyForLayout() {
    for (auto& t : flipped_) t.requires_grad_(!t.requires_grad());
  }
  GradOnlyForLayout(const GradOnlyForLayout&) = delete;
  GradOnlyForLayout& operator=(const GradOnlyForLayout&) = delete;

 private:
  std::vector<torch::Tensor> flipped_;
};

int layout_index(const ParamLayout& layout, const torch::Tensor& t) { return t.defined() ? layout.index_of(t) : -1; }

// The classifier as a linear call built from the model contract, when the
// layout selects part of it and no tap recorded it.
void add_contract_classifier(const ParamLayout& layout, const model::ModelOutput& out,
                             std::vector<model::TapCall>& calls) {
  std::vector<bool> covered(layout.size(), false);
  for (const auto& c : calls)
    for (const auto& t : {c.weight, c.bias}) {
      const int i = layout_index(layout, t);
      if (i >= 0) covered[std::size_t(i)] = true;
    }
  torch::Tensor weight, bias;
  bool missing = false;
  for (std::size_t i = 0; i < layout.size(); ++i) {
    const auto& p = layout.params()[i];
    if (p.name == "classifier.weight") weight = p.tensor, missing = missing || !covered[i];
    if (p.name == "classifier.bias") bias = p.tensor, missing = missing || !covered[i];
  }
  if (missing) calls.push_back({model::TapKind::linear, weight, bias, out.features.detach(), out.logits});
}

// [B, ...] -> [B, T, last]
torch::Tensor as_rows(const torch::Tensor& t) { return t.reshape({t.size(0), -1, t.size(-1)}); }

LayerRecord make_record(const ParamLayout& layout, const model::TapCall& call, const torch::Tensor& grad,
                        const torch::Tensor& mask) {
  LayerRecord r;
  r.kind = call.kind;
  r.weight = layout_index(layout, call.weight);
  r.bias = layout_index(layout, call.bias);
  r.weight_transposed = call.weight_transposed;
  const std::int64_t B = call.output.size(0);
  r.delta = grad.defined() ? as_rows(grad) : torch::zeros_like(as_rows(call.output.detach()));
  const std::int64_t T = r.delta.size(1);
  bool positions = false;  // does the input carry a position dimension?
  if (call.kind == model::TapKind::embedding) {
    r.a = call.input.reshape({B, -1});
    positions = call.input.dim() >= 2;
  } else {
    r.a = as_rows(call.input);
    positions = call.input.dim() >= 3;
  }
  if (positions && mask.defined() && mask.dim() == 2 && mask.size(0) == B && mask.size(1) == T)
    r.valid = mask.ne(0).to(r.delta.device());
  else if (!positions)
    r.valid = r.delta.ne(0).any(-1);  // [B,1]: a step whose output never reaches the loss
  else
    r.valid = torch::ones({B, T}, torch::dtype(torch::kBool).device(r.delta.device()));
  if (!r.valid.all().item<bool>()) {
    torch::Tensor padding = r.valid.logical_not();
    r.delta = r.delta.masked_fill(padding.unsqueeze(-1), 0);
    if (call.kind != model::TapKind::embedding) r.a = r.a.masked_fill(padding.unsqueeze(-1), 0);
  }
  return r;
}

}  // namespace

LayerStream layer_stream(model::Model& model, const ParamLayout& layout, const model::Batch& batch,
                         const TargetFn& targets) {
  model.train(false);
  torch::AutoGradMode grad_on(true);
  GradOnlyForLayout only_layout(model, layout);
  model::TapRecorder recorder;
  for (const auto& p : layout.params()) recorder.watch(p.tensor);
  model::ModelOutput out;
  {
    model::TapScope scope(recorder);
    out = model.forward(batch);
  }
  LayerStream s;
  s.logits = out.logits.detach();
  s.targets = targets(s.logits).to(s.logits.device(), torch::kLong);
  const std::int64_t B = s.logits.size(0), C = s.logits.size(1);
  if (s.targets.dim() != 1 || s.targets.size(0) != B)
    throw UsageError("layer stream: expected " + std::to_string(B) + " target labels, got shape " +
                     std::to_string(s.targets.numel()));
  if (B > 0 && (s.targets.min().item<std::int64_t>() < 0 || s.targets.max().item<std::int64_t>() >= C))
    throw UsageError("layer stream: target labels must lie in [0, " + std::to_string(C) + ")");
  torch::Tensor losses = torch::nn::functional::cross_entropy(
      out.logits, s.targets, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  s.losses = losses.detach();

  std::vector<model::TapCall> calls = recorder.calls();
  add_contract_classifier(layout, out, calls);
  std::vector<torch::Tensor> outputs;
  for (const auto& c : calls) outputs.push_back(c.output);
  std::vector<torch::Tensor> grads(calls.size());
  if (!outputs.empty() && losses.requires_grad())
    grads = torch::autograd::grad({losses.sum()}, outputs, {}, /*retain_graph=*/false, /*create_graph=*/false,
                                  /*allow_unused=*/true);

  torch::NoGradGuard no_grad;
  std::vector<bool> covered(layout.size(), false);
  for (std::size_t k = 0; k < calls.size(); ++k) {
    s.records.push_back(make_record(layout, calls[k], grads[k], batch.mask));
    for (int i : {s.records.back().weight, s.records.back().bias})
      if (i >= 0) covered[std::size_t(i)] = true;
  }
  for (std::size_t i = 0; i < layout.size(); ++i)
    if (!covered[i]) s.untapped.push_back(int(i));
  return s;
}

LayerStream layer_stream(model::Model& model, const ParamLayout& layout, const model::Batch& batch,
                         const torch::Tensor& targets) {
  return layer_stream(model, layout, batch, [&](const torch::Tensor&) { return targets; });
}

}  // namespace fathom::grads
