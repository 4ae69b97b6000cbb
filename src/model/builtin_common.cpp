// Pieces shared by the builtin architectures: the embedding layer, the
// Linear+tanh -> Linear head, masking constants and seeded initialisation.
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <limits>

#include "builtin_modules.h"
#include "fathom/model/taps.h"

namespace fathom::model::detail {

double lowest_value(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kDouble: return std::numeric_limits<double>::lowest();
    case torch::kHalf: return -65504.0;
    default: return std::numeric_limits<float>::lowest();  // float32, bfloat16
  }
}

torch::Tensor ClassifierNetImpl::embed(const torch::Tensor& ids) { return tapped_embedding(ids, embeddings->weight); }

void ClassifierNetImpl::build_embeddings(const BuiltinConfig& c) {
  embeddings = register_module("embeddings", torch::nn::Embedding(c.vocab_size, c.embedding_dim));
}

void ClassifierNetImpl::build_head(std::int64_t pooled_dim, const BuiltinConfig& c) {
  dropout = register_module("dropout", torch::nn::Dropout(c.dropout));
  pooler = register_module("pooler", torch::nn::Linear(pooled_dim, c.hidden_dim));
  classifier = register_module("classifier", torch::nn::Linear(c.hidden_dim, c.num_labels));
}

ModelOutput ClassifierNetImpl::head(const torch::Tensor& pooled) {
  ModelOutput out;
  out.features = torch::tanh(tapped_linear(dropout(pooled), pooler->weight, pooler->bias));
  // No dropout between features and logits: the contract promises
  // logits == features @ W^T + b exactly, in training mode too.
  out.logits = tapped_linear(out.features, classifier->weight, classifier->bias);
  return out;
}

namespace {

void xavier_uniform(torch::Tensor& w, at::Generator& gen) {
  double fan_out = static_cast<double>(w.size(0));
  double fan_in = static_cast<double>(w.numel() / w.size(0));
  double a = std::sqrt(6.0 / (fan_in + fan_out));
  w.uniform_(-a, a, gen);
}

}  // namespace

void initialise(torch::nn::Module& net, std::uint64_t seed) {
  torch::NoGradGuard no_grad;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  // modules() visits in registration order, so the draws (and thus the
  // weights for a seed) are stable across runs and platforms.
  for (const auto& m : net.modules(/*include_self=*/true)) {
    if (auto* lin = m->as<torch::nn::Linear>()) {
      xavier_uniform(lin->weight, gen);
      if (lin->bias.defined()) lin->bias.zero_();
    } else if (auto* emb = m->as<torch::nn::Embedding>()) {
      emb->weight.normal_(0.0, 0.1, gen);
    } else if (auto* lstm = m->as<LstmDirection>()) {
      double a = 1.0 / std::sqrt(static_cast<double>(lstm->weight_hh.size(1)));
      lstm->weight_ih.uniform_(-a, a, gen);
      lstm->weight_hh.uniform_(-a, a, gen);
      lstm->bias.zero_();
      // Forget-gate bias 1: the usual trick so early training keeps memory.
      std::int64_t h = lstm->weight_hh.size(1);
      lstm->bias.narrow(0, h, h).fill_(1.0);
    } else if (auto* att = m->as<SelfAttention>()) {
      xavier_uniform(att->in_proj_weight, gen);
      att->in_proj_bias.zero_();
    }
    // LayerNorm keeps its default (weight 1, bias 0): already deterministic.
  }
}

}  // namespace fathom::model::detail
