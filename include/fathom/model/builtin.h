#pragma once
// Built-in LibTorch classifiers (Impl + TORCH_MODULE inside; exposed through
// the Model contract):
//   boe:         mean of token embeddings over the mask -> Linear+tanh (H) -> classifier
//   bilstm:      BiLSTM over embeddings, masked max-pool of [fwd;bwd] -> Linear+tanh (H) -> classifier
//   transformer: token + position (+ type) embeddings -> N pre-LN encoder layers
//                (padding mask) -> [CLS] (position 0) -> Linear+tanh (H) -> classifier
// The penultimate Linear+tanh output is `features` in every architecture.
#include <cstdint>
#include <memory>
#include <string>

#include "fathom/model/model.h"

namespace fathom::model {

struct BuiltinConfig {
  std::string architecture = "boe";  // boe | bilstm | transformer
  std::int64_t vocab_size = 0;
  std::int64_t num_labels = 2;
  std::int64_t embedding_dim = 64;
  std::int64_t hidden_dim = 64;      // H (features)
  std::int64_t layers = 1;           // bilstm / transformer layers
  std::int64_t heads = 4;            // transformer
  std::int64_t ff_dim = 128;         // transformer feed-forward width
  std::int64_t max_length = 128;     // transformer positions
  std::int64_t type_vocab = 2;       // transformer segment embeddings
  double dropout = 0.1;
  std::int64_t pad_id = 0;
  std::uint64_t seed = 1;            // initialisation seed
  std::string to_json() const;
  // Missing keys keep their defaults; an unknown key, a wrong type or bad
  // JSON throws InputError(source, 0, key, ...). Sizes are checked by make_builtin.
  static BuiltinConfig from_json(const std::string& json_text, const std::string& source = "config");
};

// Throws UsageError for an unknown architecture or invalid sizes.
std::shared_ptr<Model> make_builtin(const BuiltinConfig& config);

// The config a model was made from if it came from make_builtin, else nullptr
// (bundles write it to fathom.json; the pointer lives as long as the model).
const BuiltinConfig* builtin_config(const Model& model);

}  // namespace fathom::model
