#include "fathom/attrib/embedding_gradients.h"

#include "fathom/core/error.h"

namespace fathom::attrib {
namespace {

torch::Tensor objective_of(const torch::Tensor& logits, const torch::Tensor& targets, Objective objective) {
  if (objective == Objective::logit) return logits.gather(1, targets.view({-1, 1})).squeeze(1);
  return torch::nn::functional::cross_entropy(
      logits, targets, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
}

void check_shapes(const torch::Tensor& emb, const torch::Tensor& mask, const torch::Tensor& targets) {
  if (emb.dim() != 3 || mask.dim() != 2 || emb.size(0) != mask.size(0) || emb.size(1) != mask.size(1))
    throw UsageError("embedding_gradients: emb must be [B,T,E] and mask [B,T]");
  if (targets.dim() != 1 || targets.size(0) != emb.size(0))
    throw UsageError("embedding_gradients: targets must be [B] with B = " + std::to_string(emb.size(0)));
}

}  // namespace

EmbeddingGradients embedding_gradients(model::Model& model, const torch::Tensor& emb, const torch::Tensor& mask,
                                       const torch::Tensor& type_ids, const torch::Tensor& targets,
                                       Objective objective) {
  check_shapes(emb, mask, targets);
  torch::AutoGradMode enable(true);
  torch::Tensor leaf = emb.detach().requires_grad_(true);
  model::ModelOutput out = model.forward_from_embeddings(leaf, mask, type_ids);
  torch::Tensor f = objective_of(out.logits, targets.to(out.logits.device()), objective);
  torch::Tensor grad = torch::autograd::grad({f.sum()}, {leaf}, {}, /*retain_graph=*/false,
                                             /*create_graph=*/false, /*allow_unused=*/true)[0];
  if (!grad.defined()) grad = torch::zeros_like(leaf);
  return {out.logits.detach(), f.detach(), grad};
}

EmbeddingGradients embedding_gradients(model::Model& model, const model::Batch& batch, const torch::Tensor& targets,
                                       Objective objective) {
  torch::Tensor emb;
  {
    torch::NoGradGuard no_grad;
    emb = model.embed(batch.ids);
  }
  return embedding_gradients(model, emb, batch.mask, batch.type_ids, targets, objective);
}

EmbeddingGradients evaluate_objective(model::Model& model, const torch::Tensor& emb, const torch::Tensor& mask,
                                      const torch::Tensor& type_ids, const torch::Tensor& targets,
                                      Objective objective) {
  check_shapes(emb, mask, targets);
  torch::NoGradGuard no_grad;
  model::ModelOutput out = model.forward_from_embeddings(emb, mask, type_ids);
  torch::Tensor f = objective_of(out.logits, targets.to(out.logits.device()), objective);
  return {out.logits, f, torch::Tensor()};
}

}  // namespace fathom::attrib
