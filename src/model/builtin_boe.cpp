// boe: masked mean of token embeddings -> Linear+tanh -> classifier.
#include "builtin_modules.h"

namespace fathom::model::detail {

BoeClassifierImpl::BoeClassifierImpl(const BuiltinConfig& c) {
  build_embeddings(c);
  build_head(c.embedding_dim, c);
}

ModelOutput BoeClassifierImpl::forward_from_embeddings(const torch::Tensor& emb, const torch::Tensor& mask,
                                                       const torch::Tensor& /*type_ids: unused*/) {
  auto m = mask.to(emb.scalar_type()).unsqueeze(-1);  // [B,T,1]
  // clamp: an all-padding row gives a zero vector instead of NaN.
  auto pooled = (emb * m).sum(1) / m.sum(1).clamp_min(1.0);
  return head(pooled);
}

}  // namespace fathom::model::detail
