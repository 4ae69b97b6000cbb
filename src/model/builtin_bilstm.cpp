// bilstm: stacked bidirectional LSTM over the embeddings, masked max-pool of
// [fwd;bwd] -> Linear+tanh -> classifier.
#include "builtin_modules.h"
#include "fathom/model/taps.h"

namespace fathom::model::detail {

LstmDirectionImpl::LstmDirectionImpl(std::int64_t input_dim, std::int64_t hidden_dim) {
  weight_ih = register_parameter("weight_ih", torch::empty({4 * hidden_dim, input_dim}));
  weight_hh = register_parameter("weight_hh", torch::empty({4 * hidden_dim, hidden_dim}));
  bias = register_parameter("bias", torch::empty({4 * hidden_dim}));
}

torch::Tensor LstmDirectionImpl::forward(const torch::Tensor& x, const torch::Tensor& mask, bool reverse) {
  const std::int64_t batch = x.size(0), steps = x.size(1), hidden = weight_hh.size(1);
  // Input projections of all steps in one matmul; only the recurrence is sequential.
  auto projected = tapped_linear(x, weight_ih, bias);  // [B,T,4H]
  auto real = mask.ne(0).unsqueeze(-1);                     // [B,T,1]
  auto h = torch::zeros({batch, hidden}, x.options());
  auto c = torch::zeros({batch, hidden}, x.options());
  std::vector<torch::Tensor> outputs(static_cast<std::size_t>(steps));
  for (std::int64_t s = 0; s < steps; ++s) {
    const std::int64_t t = reverse ? steps - 1 - s : s;
    auto gates = (projected.select(1, t) + tapped_linear(h, weight_hh, {})).chunk(4, 1);
    auto c_next = torch::sigmoid(gates[1]) * c + torch::sigmoid(gates[0]) * torch::tanh(gates[2]);
    auto h_next = torch::sigmoid(gates[3]) * torch::tanh(c_next);
    // Padding steps keep the previous state, so a row's result does not
    // depend on how much padding the batch added.
    auto keep = real.select(1, t);
    c = torch::where(keep, c_next, c);
    h = torch::where(keep, h_next, h);
    outputs[static_cast<std::size_t>(t)] = h;
  }
  return torch::stack(outputs, 1);
}

BiLstmLayerImpl::BiLstmLayerImpl(std::int64_t input_dim, std::int64_t hidden_dim) {
  fwd = register_module("fwd", LstmDirection(input_dim, hidden_dim));
  bwd = register_module("bwd", LstmDirection(input_dim, hidden_dim));
}

torch::Tensor BiLstmLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  return torch::cat({fwd(x, mask, false), bwd(x, mask, true)}, -1);
}

BiLstmEncoderImpl::BiLstmEncoderImpl(const BuiltinConfig& c) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < c.layers; ++i)
    layers->push_back(BiLstmLayer(i == 0 ? c.embedding_dim : 2 * c.hidden_dim, c.hidden_dim));
  dropout = register_module("dropout", torch::nn::Dropout(c.dropout));
}

torch::Tensor BiLstmEncoderImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  auto h = x;
  for (std::size_t i = 0; i < layers->size(); ++i) {
    if (i > 0) h = dropout(h);
    h = layers->at<BiLstmLayerImpl>(i).forward(h, mask);
  }
  return h;
}

BiLstmClassifierImpl::BiLstmClassifierImpl(const BuiltinConfig& c) {
  build_embeddings(c);
  encoder = register_module("encoder", BiLstmEncoder(c));
  build_head(2 * c.hidden_dim, c);
}

ModelOutput BiLstmClassifierImpl::forward_from_embeddings(const torch::Tensor& emb, const torch::Tensor& mask,
                                                          const torch::Tensor& /*type_ids: unused*/) {
  auto states = encoder(emb, mask);  // [B,T,2H]
  auto padding = mask.eq(0).unsqueeze(-1);
  auto pooled = std::get<0>(states.masked_fill(padding, lowest_value(states.scalar_type())).max(1));
  // A row with no real token would pool the mask value itself; use zeros.
  pooled = torch::where(mask.ne(0).any(1, /*keepdim=*/true), pooled, torch::zeros_like(pooled));
  return head(pooled);
}

}  // namespace fathom::model::detail
