#pragma once
// Gradients of a per-example objective w.r.t. the token embeddings: the one
// piece saliency (vanilla, grad×input, IG, SmoothGrad), HotFlip, input
// reduction and universal triggers all start from.
//
// For each example b the objective is
//   Objective::logit  F_b = logits_b[y_b]                        (saliency's default)
//   Objective::loss   F_b = cross_entropy(logits_b, y_b)         (attacks; saliency --of loss)
// and the result is ∂F_b/∂emb_b [T,E] for every b, from ONE forward and ONE
// autograd::grad of Σ_b F_b (examples do not interact in eval mode, so the
// gradient of the sum splits per example). Padded positions get zero
// gradient by the model contract.
// The model is used as given (callers put it in eval mode); parameters'
// .grad are not touched (autograd::grad, not backward).
// Shapes: emb [B,T,E] in the model's dtype and device; mask, type_ids [B,T]
// int64; targets [B] int64 labels in [0, C).
// Thread-safety: one thread per model (model/model.h).
#include <torch/torch.h>

#include "fathom/model/model.h"

namespace fathom::attrib {

enum class Objective { logit, loss };

struct EmbeddingGradients {
  torch::Tensor logits;     // [B,C] detached
  torch::Tensor objective;  // [B]   F_b, detached
  torch::Tensor gradients;  // [B,T,E] ∂F_b/∂emb_b
};

// Gradients at the given embeddings (which need not come from embed(): IG's
// scaled inputs, SmoothGrad's noisy ones, a trigger spliced in).
EmbeddingGradients embedding_gradients(model::Model& model, const torch::Tensor& emb, const torch::Tensor& mask,
                                       const torch::Tensor& type_ids, const torch::Tensor& targets, Objective objective);

// The same at the batch's own embeddings, embed(batch.ids).
EmbeddingGradients embedding_gradients(model::Model& model, const model::Batch& batch, const torch::Tensor& targets,
                                       Objective objective);

// Objective only, no gradient (NoGradGuard): [B] F_b and logits — what
// evaluating candidate triggers, flips and deletions needs.
EmbeddingGradients evaluate_objective(model::Model& model, const torch::Tensor& emb, const torch::Tensor& mask,
                                      const torch::Tensor& type_ids, const torch::Tensor& targets, Objective objective);

}  // namespace fathom::attrib
