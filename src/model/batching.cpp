// Examples -> padded id/mask/type tensors for one forward pass.
#include "fathom/model/batching.h"

#include <algorithm>
#include <unordered_map>

#include "fathom/core/error.h"

namespace fathom::model {

Batch make_batch(const std::vector<data::Example>& examples, const data::Tokenizer& tokenizer,
                 std::int64_t max_length, const std::vector<std::string>& labels,
                 const std::vector<std::int64_t>& rows) {
  if (!rows.empty() && rows.size() != examples.size())
    throw UsageError("make_batch: " + std::to_string(rows.size()) + " row indices for " +
                     std::to_string(examples.size()) + " examples");

  std::vector<data::Encoding> encodings;
  encodings.reserve(examples.size());
  std::int64_t longest = 0;
  for (const auto& ex : examples) {
    std::optional<std::string_view> pair;
    if (ex.text_pair) pair = *ex.text_pair;
    encodings.push_back(tokenizer.encode(ex.text, pair, max_length));
    longest = std::max<std::int64_t>(longest, static_cast<std::int64_t>(encodings.back().ids.size()));
  }

  const auto n = static_cast<std::int64_t>(examples.size());
  Batch b;
  b.ids = torch::full({n, longest}, tokenizer.pad_id(), torch::kLong);
  b.mask = torch::zeros({n, longest}, torch::kLong);
  b.type_ids = torch::zeros({n, longest}, torch::kLong);
  // Fill through raw pointers: per-element tensor indexing is far slower.
  auto* ids = b.ids.data_ptr<std::int64_t>();
  auto* mask = b.mask.data_ptr<std::int64_t>();
  auto* types = b.type_ids.data_ptr<std::int64_t>();
  for (std::int64_t r = 0; r < n; ++r) {
    const auto& enc = encodings[static_cast<std::size_t>(r)];
    const std::int64_t offset = r * longest;
    std::copy(enc.ids.begin(), enc.ids.end(), ids + offset);
    std::copy(enc.type_ids.begin(), enc.type_ids.end(), types + offset);
    std::fill(mask + offset, mask + offset + static_cast<std::int64_t>(enc.ids.size()), 1);
  }

  const bool any_label = std::any_of(examples.begin(), examples.end(), [](const auto& ex) { return ex.label.has_value(); });
  if (any_label) {
    std::unordered_map<std::string, std::int64_t> index;
    for (std::size_t i = 0; i < labels.size(); ++i) index.emplace(labels[i], static_cast<std::int64_t>(i));
    b.labels = torch::full({n}, data::kNoLabel, torch::kLong);
    auto* out = b.labels.data_ptr<std::int64_t>();
    for (std::int64_t r = 0; r < n; ++r) {
      const auto& ex = examples[static_cast<std::size_t>(r)];
      if (!ex.label) continue;
      auto it = index.find(*ex.label);
      if (it == index.end()) {
        std::string known;
        for (const auto& l : labels) known += (known.empty() ? "" : ", ") + l;
        throw InputError("example '" + ex.id + "'", ex.line, "label",
                         "unknown label '" + *ex.label + "' (the model's labels: " + known + ")");
      }
      out[r] = it->second;
    }
  }

  if (rows.empty()) {
    b.rows.resize(examples.size());
    for (std::size_t i = 0; i < b.rows.size(); ++i) b.rows[i] = static_cast<std::int64_t>(i);
  } else {
    b.rows = rows;
  }
  return b;
}

}  // namespace fathom::model
