#pragma once
// Shared by the EK-FAC tests (tests/attrib/ekfac_test.cpp and
// tests/attrib/mpi/ekfac_mpi_main.cpp): a small seeded corpus of token rows as TrainingRows.
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "fathom/attrib/training_hessian.h"

namespace fathom::attrib::testing {

struct TokenCorpus {
  std::vector<std::vector<std::int64_t>> ids;
  std::vector<std::int64_t> labels;

  // `n` rows of 1..max_len ids in [1, vocab), labels in [0, classes); seeded.
  static std::shared_ptr<TokenCorpus> make(std::int64_t n, std::int64_t vocab, std::int64_t classes,
                                           std::int64_t max_len, std::uint64_t seed) {
    auto c = std::make_shared<TokenCorpus>();
    torch::manual_seed(seed);
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t len = torch::randint(1, max_len + 1, {1}).item<std::int64_t>();
      auto t = torch::randint(1, vocab, {len}, torch::kLong);
      c->ids.emplace_back(t.data_ptr<std::int64_t>(), t.data_ptr<std::int64_t>() + len);
      c->labels.push_back(torch::randint(0, classes, {1}).item<std::int64_t>());
    }
    return c;
  }

  // The rows as one padded batch (pad id 0), in the order asked.
  model::Batch batch(const std::vector<std::int64_t>& rows) const {
    std::int64_t longest = 1;
    for (auto r : rows) longest = std::max<std::int64_t>(longest, std::int64_t(ids[std::size_t(r)].size()));
    const auto B = std::int64_t(rows.size());
    model::Batch b;
    b.ids = torch::zeros({B, longest}, torch::kLong);
    b.mask = torch::zeros({B, longest}, torch::kLong);
    b.type_ids = torch::zeros({B, longest}, torch::kLong);
    b.labels = torch::empty({B}, torch::kLong);
    for (std::int64_t i = 0; i < B; ++i) {
      const auto& row = ids[std::size_t(rows[std::size_t(i)])];
      for (std::size_t t = 0; t < row.size(); ++t) {
        b.ids[i][std::int64_t(t)] = row[t];
        b.mask[i][std::int64_t(t)] = 1;
      }
      b.labels[i] = labels[std::size_t(rows[std::size_t(i)])];
    }
    b.rows = rows;
    return b;
  }
};

inline TrainingRows training_rows(std::shared_ptr<const TokenCorpus> corpus) {
  return TrainingRows{std::int64_t(corpus->ids.size()),
                      [corpus](const std::vector<std::int64_t>& rows) { return corpus->batch(rows); }};
}

}  // namespace fathom::attrib::testing
