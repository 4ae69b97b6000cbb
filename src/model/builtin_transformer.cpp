// transformer: token + position (+ type) embeddings -> pre-LN encoder layers
// with a key padding mask -> final LN -> position 0 ([CLS]) -> Linear+tanh -> classifier.
#include <cmath>

#include "builtin_modules.h"
#include "fathom/core/error.h"
#include "fathom/model/taps.h"

namespace fathom::model::detail {

namespace {
torch::Tensor layer_norm(torch::nn::LayerNorm& norm, const torch::Tensor& x) {
  return tapped_layer_norm(x, norm->weight, norm->bias, norm->options.eps());
}
}  // namespace

SelfAttentionImpl::SelfAttentionImpl(std::int64_t dim, std::int64_t heads_, double dropout) : heads(heads_) {
  in_proj_weight = register_parameter("in_proj_weight", torch::empty({3 * dim, dim}));
  in_proj_bias = register_parameter("in_proj_bias", torch::empty({3 * dim}));
  out_proj = register_module("out_proj", torch::nn::Linear(dim, dim));
  attn_dropout = register_module("attn_dropout", torch::nn::Dropout(dropout));
}

torch::Tensor SelfAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& key_padding) {
  const std::int64_t batch = x.size(0), steps = x.size(1), dim = x.size(2), head_dim = dim / heads;
  auto qkv = tapped_linear(x, in_proj_weight, in_proj_bias).chunk(3, -1);
  auto split_heads = [&](const torch::Tensor& t) { return t.view({batch, steps, heads, head_dim}).transpose(1, 2); };
  auto q = split_heads(qkv[0]), k = split_heads(qkv[1]), v = split_heads(qkv[2]);  // [B,h,T,d]
  auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(head_dim));
  // Padding keys get the lowest finite score: exp underflows to exactly 0, so
  // real positions never see padding, and an all-padding row stays finite.
  scores = scores.masked_fill(key_padding.view({batch, 1, 1, steps}), lowest_value(scores.scalar_type()));
  auto attn = attn_dropout(torch::softmax(scores, -1));
  auto context = torch::matmul(attn, v).transpose(1, 2).reshape({batch, steps, dim});
  return tapped_linear(context, out_proj->weight, out_proj->bias);
}

EncoderLayerImpl::EncoderLayerImpl(const BuiltinConfig& c) {
  self_attn = register_module("self_attn", SelfAttention(c.embedding_dim, c.heads, c.dropout));
  linear1 = register_module("linear1", torch::nn::Linear(c.embedding_dim, c.ff_dim));
  linear2 = register_module("linear2", torch::nn::Linear(c.ff_dim, c.embedding_dim));
  norm1 = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.embedding_dim})));
  norm2 = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.embedding_dim})));
  dropout = register_module("dropout", torch::nn::Dropout(c.dropout));
}

torch::Tensor EncoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& key_padding) {
  auto h = x + dropout(self_attn(layer_norm(norm1, x), key_padding));
  auto ff = torch::gelu(tapped_linear(layer_norm(norm2, h), linear1->weight, linear1->bias));
  return h + dropout(tapped_linear(dropout(ff), linear2->weight, linear2->bias));
}

TransformerEncoderImpl::TransformerEncoderImpl(const BuiltinConfig& c) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < c.layers; ++i) layers->push_back(EncoderLayer(c));
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.embedding_dim})));
}

torch::Tensor TransformerEncoderImpl::forward(const torch::Tensor& x, const torch::Tensor& key_padding) {
  auto h = x;
  for (std::size_t i = 0; i < layers->size(); ++i) h = layers->at<EncoderLayerImpl>(i).forward(h, key_padding);
  return layer_norm(norm, h);
}

TransformerClassifierImpl::TransformerClassifierImpl(const BuiltinConfig& c) {
  build_embeddings(c);
  position_embeddings = register_module("position_embeddings", torch::nn::Embedding(c.max_length, c.embedding_dim));
  if (c.type_vocab > 0)
    type_embeddings = register_module("type_embeddings", torch::nn::Embedding(c.type_vocab, c.embedding_dim));
  encoder = register_module("encoder", TransformerEncoder(c));
  build_head(c.embedding_dim, c);
}

ModelOutput TransformerClassifierImpl::forward_from_embeddings(const torch::Tensor& emb, const torch::Tensor& mask,
                                                               const torch::Tensor& type_ids) {
  const std::int64_t steps = emb.size(1), positions = position_embeddings->weight.size(0);
  if (steps > positions)
    throw UsageError("a sequence of " + std::to_string(steps) + " tokens exceeds the transformer's max_length " +
                     std::to_string(positions) + " (truncate inputs to the bundle's max_length)");
  // Position and type embeddings are added here, not in embed(): saliency and
  // HotFlip differentiate w.r.t. the context-free token embeddings only.
  // Positions expanded to [B,T]: taps split gradients by dim 0 (taps.h).
  auto position_ids = torch::arange(steps, mask.options().dtype(torch::kLong)).unsqueeze(0).expand({emb.size(0), steps});
  auto x = emb + tapped_embedding(position_ids, position_embeddings->weight);
  if (type_embeddings && type_ids.defined()) x = x + tapped_embedding(type_ids, type_embeddings->weight);
  auto states = encoder(dropout(x), mask.eq(0));
  return head(states.select(1, 0));
}

}  // namespace fathom::model::detail
