#pragma once
// Small builtin models and batches shared by the model tests.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "fathom/model/builtin.h"

namespace fathom::model::testing {

inline BuiltinConfig tiny_config(const std::string& architecture, std::int64_t vocab_size = 23) {
  BuiltinConfig c;
  c.architecture = architecture;
  c.vocab_size = vocab_size;
  c.num_labels = 3;
  c.embedding_dim = 8;
  c.hidden_dim = 6;
  c.layers = 2;
  c.heads = 2;
  c.ff_dim = 12;
  c.max_length = 16;
  c.dropout = 0.1;  // nonzero so eval() mode is actually exercised
  c.seed = 7;
  return c;
}

// Rows of different lengths (pad id 0 after each row's tokens), ids in [1, vocab).
inline Batch ragged_batch(std::int64_t vocab_size, std::int64_t extra_padding = 0) {
  const std::vector<std::vector<std::int64_t>> rows = {{2, 5, 9, 11, 3}, {2, 7, 3}, {2, 13, 17, 19, 21, 6, 3}};
  std::int64_t longest = 0;
  for (const auto& r : rows) longest = std::max<std::int64_t>(longest, static_cast<std::int64_t>(r.size()));
  longest += extra_padding;
  const auto n = static_cast<std::int64_t>(rows.size());
  Batch b;
  b.ids = torch::zeros({n, longest}, torch::kLong);
  b.mask = torch::zeros({n, longest}, torch::kLong);
  b.type_ids = torch::zeros({n, longest}, torch::kLong);
  for (std::int64_t i = 0; i < n; ++i) {
    const auto& r = rows[static_cast<std::size_t>(i)];
    for (std::size_t t = 0; t < r.size(); ++t) {
      b.ids[i][static_cast<std::int64_t>(t)] = r[t] % vocab_size;
      b.mask[i][static_cast<std::int64_t>(t)] = 1;
      // Second half of each row is segment 1, as for a text pair.
      b.type_ids[i][static_cast<std::int64_t>(t)] = t * 2 >= r.size() ? 1 : 0;
    }
  }
  b.labels = torch::tensor({0, 2, 1}, torch::kLong);
  b.rows = {0, 1, 2};
  return b;
}

}  // namespace fathom::model::testing
