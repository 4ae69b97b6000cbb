#pragma once
// Helpers shared by the grads tests: tiny double-precision builtin models and
// an independent, naive per-example gradient reference (one example at a
// time, unpadded, plain autograd), written only against the model contract.
#include <torch/torch.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "fathom/model/builtin.h"
#include "fathom/model/model.h"
#include "model/builtin_fixtures.h"

namespace fathom::grads::testing {

inline const std::vector<std::string>& architectures() {
  static const std::vector<std::string> a = {"boe", "bilstm", "transformer"};
  return a;
}

// A tiny builtin model in float64, eval mode.
inline std::shared_ptr<model::Model> double_model(const std::string& arch, std::int64_t vocab = 23) {
  auto m = model::make_builtin(model::testing::tiny_config(arch, vocab));
  m->to(torch::kCPU, torch::kDouble);
  m->train(false);
  return m;
}

// A "deeper" filter per architecture: one encoder layer, or the pooler for boe.
inline std::string deep_filter(const std::string& arch) {
  return arch == "boe" ? "pooler.*" : "encoder.layers.0.*";
}

// ||a - b|| / max(||b||, tiny), in double.
inline double rel_err(const torch::Tensor& a, const torch::Tensor& b) {
  auto ad = a.to(torch::kDouble), bd = b.to(torch::kDouble);
  const double num = (ad - bd).norm().item<double>();
  const double den = std::max(bd.norm().item<double>(), 1e-300);
  return num / den;
}

// Row i of `batch`, keeping the batch's padding.
inline model::Batch slice_row(const model::Batch& batch, std::int64_t i) {
  model::Batch b;
  b.ids = batch.ids.slice(0, i, i + 1).clone();
  b.mask = batch.mask.slice(0, i, i + 1).clone();
  if (batch.type_ids.defined()) b.type_ids = batch.type_ids.slice(0, i, i + 1).clone();
  if (batch.labels.defined()) b.labels = batch.labels.slice(0, i, i + 1).clone();
  if (!batch.rows.empty()) b.rows = {batch.rows[static_cast<std::size_t>(i)]};
  return b;
}

// Row i of `batch` alone, trimmed to its real tokens (no padding at all).
inline model::Batch trimmed_row(const model::Batch& batch, std::int64_t i) {
  const std::int64_t len = batch.mask[i].sum().item<std::int64_t>();
  model::Batch b;
  b.ids = batch.ids.slice(0, i, i + 1).slice(1, 0, len).clone();
  b.mask = batch.mask.slice(0, i, i + 1).slice(1, 0, len).clone();
  if (batch.type_ids.defined()) b.type_ids = batch.type_ids.slice(0, i, i + 1).slice(1, 0, len).clone();
  if (batch.labels.defined()) b.labels = batch.labels.slice(0, i, i + 1).clone();
  if (!batch.rows.empty()) b.rows = {batch.rows[static_cast<std::size_t>(i)]};
  return b;
}

struct Reference {
  torch::Tensor gradients;  // [B,D] model dtype
  torch::Tensor logits;     // [B,C] from the per-example unpadded forwards
  torch::Tensor features;   // [B,H]
  torch::Tensor losses;     // [B]
  torch::Tensor targets;    // [B] int64
  std::vector<std::string> names;  // parameter order used
  std::int64_t dim = 0;
};

// The naive reference: for each example alone and unpadded, a fresh forward
// and torch::autograd::grad of cross_entropy(logits, y) w.r.t. the parameters
// `filter` selects (model::select_parameters, i.e. the model module, not
// grads), each gradient flattened row-major and concatenated in model order.
// predicted = true: y = argmax of that example's own logits; else the gold label.
inline Reference naive_reference(model::Model& m, const std::string& filter, const model::Batch& batch,
                                 bool predicted) {
  m.train(false);
  torch::AutoGradMode grad_on(true);
  auto selected = model::select_parameters(m, filter);
  std::vector<torch::Tensor> params;
  Reference ref;
  for (auto& [name, t] : selected) {
    params.push_back(t);
    ref.names.push_back(name);
    ref.dim += t.numel();
  }
  std::vector<torch::Tensor> rows, logits, features, losses, targets;
  for (std::int64_t i = 0; i < batch.size(); ++i) {
    auto one = trimmed_row(batch, i);
    auto out = m.forward(one);
    torch::Tensor y;
    if (predicted)
      y = out.logits.detach().argmax(1);
    else
      y = one.labels.to(torch::kLong);
    auto loss = torch::nn::functional::cross_entropy(out.logits, y);
    auto grads = torch::autograd::grad({loss}, params, /*grad_outputs=*/{}, /*retain_graph=*/false,
                                       /*create_graph=*/false, /*allow_unused=*/true);
    std::vector<torch::Tensor> flat;
    for (std::size_t p = 0; p < params.size(); ++p) {
      auto g = grads[p].defined() ? grads[p] : torch::zeros_like(params[p]);
      flat.push_back(g.detach().contiguous().reshape({-1}));
    }
    rows.push_back(torch::cat(flat));
    logits.push_back(out.logits.detach());
    features.push_back(out.features.detach());
    losses.push_back(loss.detach().reshape({1}));
    targets.push_back(y.reshape({1}));
  }
  ref.gradients = torch::stack(rows);
  ref.logits = torch::cat(logits);
  ref.features = torch::cat(features);
  ref.losses = torch::cat(losses);
  ref.targets = torch::cat(targets);
  return ref;
}

}  // namespace fathom::grads::testing
