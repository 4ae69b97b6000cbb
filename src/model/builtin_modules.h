#pragma once
// Private: the LibTorch modules behind make_builtin. Parameter names follow
// PyTorch's conventions where one exists (linear1, norm1, self_attn.in_proj_weight)
// so globs like "encoder.layers.0.*" read the same as for exported models.
//
//   embeddings.weight                      [V,E]  (all architectures)
//   position_embeddings / type_embeddings         (transformer)
//   encoder.layers.<i>.{fwd,bwd}.*                (bilstm)
//   encoder.layers.<i>.{self_attn,linear1,linear2,norm1,norm2}.*, encoder.norm.*  (transformer)
//   pooler.{weight,bias}                   [H,*]  features = tanh(pooler(pooled))
//   classifier.{weight,bias}               [C,H]  logits = classifier(features)
#include <torch/torch.h>

#include "fathom/model/builtin.h"
#include "fathom/model/model.h"

namespace fathom::model::detail {

// Most negative finite value of a floating dtype: masking with it (instead of
// -inf) keeps softmax/max finite even for a row that is all padding.
double lowest_value(torch::ScalarType dtype);

// Common shape of every builtin network: token embeddings, an encoder that
// pools a sequence into one vector, and the Linear+tanh -> Linear head.
class ClassifierNetImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor embed(const torch::Tensor& ids);
  virtual ModelOutput forward_from_embeddings(const torch::Tensor& emb, const torch::Tensor& mask,
                                              const torch::Tensor& type_ids) = 0;
  torch::nn::Embedding embeddings{nullptr};
  torch::nn::Linear pooler{nullptr};
  torch::nn::Linear classifier{nullptr};

 protected:
  // Registers "embeddings" first so it leads named_parameters().
  void build_embeddings(const BuiltinConfig& c);
  // Registers "pooler" and "classifier" last (after the encoder).
  void build_head(std::int64_t pooled_dim, const BuiltinConfig& c);
  ModelOutput head(const torch::Tensor& pooled);
  torch::nn::Dropout dropout{nullptr};
};

// ---- boe -----------------------------------------------------------------
class BoeClassifierImpl : public ClassifierNetImpl {
 public:
  explicit BoeClassifierImpl(const BuiltinConfig& c);
  ModelOutput forward_from_embeddings(const torch::Tensor& emb, const torch::Tensor& mask,
                                      const torch::Tensor& type_ids) override;
};
TORCH_MODULE(BoeClassifier);

// ---- bilstm ----------------------------------------------------------------
// One LSTM direction written out step by step: masked steps carry the state
// through unchanged, so padding never leaks into real positions (the reverse
// direction starts at each row's last real token), and every op supports
// double backward on CPU and GPU alike (HVPs over encoder parameters).
class LstmDirectionImpl : public torch::nn::Module {
 public:
  LstmDirectionImpl(std::int64_t input_dim, std::int64_t hidden_dim);
  // x [B,T,I], mask [B,T] (nonzero = real) -> [B,T,H]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask, bool reverse);
  torch::Tensor weight_ih, weight_hh, bias;  // [4H,I], [4H,H], [4H]; gates i,f,g,o
};
TORCH_MODULE(LstmDirection);

class BiLstmLayerImpl : public torch::nn::Module {
 public:
  BiLstmLayerImpl(std::int64_t input_dim, std::int64_t hidden_dim);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask);  // -> [B,T,2H]
  LstmDirection fwd{nullptr}, bwd{nullptr};
};
TORCH_MODULE(BiLstmLayer);

class BiLstmEncoderImpl : public torch::nn::Module {
 public:
  explicit BiLstmEncoderImpl(const BuiltinConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask);  // -> [B,T,2H]
  torch::nn::ModuleList layers;
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(BiLstmEncoder);

class BiLstmClassifierImpl : public ClassifierNetImpl {
 public:
  explicit BiLstmClassifierImpl(const BuiltinConfig& c);
  ModelOutput forward_from_embeddings(const torch::Tensor& emb, const torch::Tensor& mask,
                                      const torch::Tensor& type_ids) override;
  BiLstmEncoder encoder{nullptr};
};
TORCH_MODULE(BiLstmClassifier);

// ---- transformer -------------------------------------------------------------
class SelfAttentionImpl : public torch::nn::Module {
 public:
  SelfAttentionImpl(std::int64_t dim, std::int64_t heads, double dropout);
  // x [B,T,E]; key_padding [B,T] bool, true = padding (never attended to)
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& key_padding);
  torch::Tensor in_proj_weight, in_proj_bias;  // [3E,E], [3E]: q, k, v stacked
  torch::nn::Linear out_proj{nullptr};
  std::int64_t heads;
  torch::nn::Dropout attn_dropout{nullptr};
};
TORCH_MODULE(SelfAttention);

// Pre-LN layer: x + Attn(LN1(x)), then x + FF(LN2(x)). Pre-LN trains
// without warm-up and keeps the residual path an identity.
class EncoderLayerImpl : public torch::nn::Module {
 public:
  explicit EncoderLayerImpl(const BuiltinConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& key_padding);
  SelfAttention self_attn{nullptr};
  torch::nn::Linear linear1{nullptr}, linear2{nullptr};
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(EncoderLayer);

class TransformerEncoderImpl : public torch::nn::Module {
 public:
  explicit TransformerEncoderImpl(const BuiltinConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& key_padding);
  torch::nn::ModuleList layers;
  torch::nn::LayerNorm norm{nullptr};  // final LN: pre-LN layers leave the stream unnormalised
};
TORCH_MODULE(TransformerEncoder);

class TransformerClassifierImpl : public ClassifierNetImpl {
 public:
  explicit TransformerClassifierImpl(const BuiltinConfig& c);
  ModelOutput forward_from_embeddings(const torch::Tensor& emb, const torch::Tensor& mask,
                                      const torch::Tensor& type_ids) override;
  torch::nn::Embedding position_embeddings{nullptr};
  torch::nn::Embedding type_embeddings{nullptr};  // null when type_vocab == 0
  TransformerEncoder encoder{nullptr};
};
TORCH_MODULE(TransformerClassifier);

// Deterministic initialisation from config.seed with a private generator, so
// building a model never disturbs (or depends on) the global RNG.
void initialise(torch::nn::Module& net, std::uint64_t seed);

}  // namespace fathom::model::detail
