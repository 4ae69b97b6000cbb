#pragma once
// The explicit Hessian of a model's mean cross-entropy over a batch, built
// coordinate by coordinate with plain autograd (one backward per coordinate
// of the gradient): the independent reference of the inverse-HVP solvers
// (influence_solvers_test.cpp) and of self-influence (self_influence_test.cpp).
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "fathom/grads/param_layout.h"
#include "fathom/model/model.h"

namespace fathom::attrib {

// Explicit H of (1/n) Σ CE over all rows: row i = ∂(∂L/∂θ_i)/∂θ.
inline torch::Tensor explicit_hessian(model::Model& m, const grads::ParamLayout& layout, const model::Batch& all) {
  std::vector<torch::Tensor> params;
  for (const auto& p : layout.params()) params.push_back(p.tensor);
  torch::AutoGradMode on(true);
  auto out = m.forward(all);
  auto loss = torch::nn::functional::cross_entropy(out.logits, all.labels);
  auto g = torch::autograd::grad({loss}, params, {}, true, true, true);
  std::vector<torch::Tensor> flat;
  for (std::size_t i = 0; i < g.size(); ++i) flat.push_back(g[i].defined() ? g[i].reshape(-1) : torch::zeros({params[i].numel()}, torch::kDouble));
  torch::Tensor gf = torch::cat(flat);
  const std::int64_t P = gf.numel();
  torch::Tensor H = torch::zeros({P, P}, torch::kDouble);
  for (std::int64_t i = 0; i < P; ++i) {
    if (!gf.requires_grad()) break;
    auto row = torch::autograd::grad({gf[i]}, params, {}, true, false, true);
    std::vector<torch::Tensor> rf;
    for (std::size_t j = 0; j < row.size(); ++j) rf.push_back(row[j].defined() ? row[j].reshape(-1) : torch::zeros({params[j].numel()}, torch::kDouble));
    H[i] = torch::cat(rf);
  }
  return H;
}

}  // namespace fathom::attrib
