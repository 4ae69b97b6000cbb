// Shared plumbing of the attack module (attack_internal.h).
#include "attack_internal.h"

#include <algorithm>
#include <filesystem>

#include "../attrib/training_texts.h"  // round6: the one 6-significant-digit rounding of outputs
#include "fathom/comm/collective_check.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/data/shard.h"

namespace fathom::attack::detail {

std::vector<double> map_units(std::int64_t units, std::int64_t width,
                              const std::function<void(std::int64_t, double*)>& fn, comm::Communicator& comm) {
  const data::Range mine = data::shard_range(units, comm.rank(), comm.size());
  std::vector<double> local(std::size_t(mine.size() * width));
  comm::collective_check(comm, "evaluating attack units", [&] {
    for (std::int64_t u = mine.begin; u < mine.end; ++u) fn(u, local.data() + (u - mine.begin) * width);
  });
  if (comm.size() == 1) return local;
  // Shards are contiguous and in rank order, so the concatenation is in unit order.
  std::vector<std::uint8_t> bytes = comm.all_gatherv(local.data(), std::int64_t(local.size()), comm::DType::f64);
  std::vector<double> all(std::size_t(units * width));
  std::copy_n(bytes.data(), all.size() * sizeof(double), reinterpret_cast<std::uint8_t*>(all.data()));
  return all;
}

std::vector<std::string> gather_units_on_root(std::int64_t units, const std::function<std::string(std::int64_t)>& fn,
                                              comm::Communicator& comm) {
  const data::Range mine = data::shard_range(units, comm.rank(), comm.size());
  std::vector<std::string> local;
  comm::collective_check(comm, "evaluating attack units", [&] {
    for (std::int64_t u = mine.begin; u < mine.end; ++u) local.push_back(fn(u));
  });
  if (comm.size() == 1) return local;
  // Each unit's text, prefixed by its length, in one byte buffer per rank.
  std::string packed;
  for (const std::string& s : local) {
    const std::int64_t n = std::int64_t(s.size());
    packed.append(reinterpret_cast<const char*>(&n), sizeof n);
    packed += s;
  }
  std::vector<std::uint8_t> bytes = comm.gatherv(packed.data(), std::int64_t(packed.size()), comm::DType::u8, 0);
  std::vector<std::string> all;
  if (!comm.is_root()) return all;
  std::size_t at = 0;
  while (at < bytes.size()) {
    std::int64_t n = 0;
    std::copy_n(bytes.data() + at, sizeof n, reinterpret_cast<std::uint8_t*>(&n));
    at += sizeof n;
    all.emplace_back(reinterpret_cast<const char*>(bytes.data() + at), std::size_t(n));
    at += std::size_t(n);
  }
  return all;
}

model::Batch pad_rows(const std::vector<std::vector<std::int64_t>>& ids,
                      const std::vector<std::vector<std::int64_t>>& type_ids, std::int64_t pad_id) {
  const auto n = std::int64_t(ids.size());
  std::int64_t longest = 0;
  for (const auto& row : ids) longest = std::max<std::int64_t>(longest, std::int64_t(row.size()));
  model::Batch b;
  b.ids = torch::full({n, longest}, pad_id, torch::kLong);
  b.mask = torch::zeros({n, longest}, torch::kLong);
  b.type_ids = torch::zeros({n, longest}, torch::kLong);
  auto* pi = b.ids.data_ptr<std::int64_t>();
  auto* pm = b.mask.data_ptr<std::int64_t>();
  auto* pt = b.type_ids.data_ptr<std::int64_t>();
  for (std::int64_t r = 0; r < n; ++r) {
    const auto& row = ids[std::size_t(r)];
    std::copy(row.begin(), row.end(), pi + r * longest);
    std::fill(pm + r * longest, pm + r * longest + std::int64_t(row.size()), 1);
    const auto& types = type_ids[std::size_t(r)];
    std::copy(types.begin(), types.end(), pt + r * longest);
  }
  b.rows.resize(std::size_t(n));
  for (std::int64_t r = 0; r < n; ++r) b.rows[std::size_t(r)] = r;
  return b;
}

std::int64_t label_index(const model::Bundle& bundle, const std::string& label, const std::string& what) {
  const std::int64_t i = bundle.label_index(label);
  if (i != data::kNoLabel) return i;
  std::string known;
  for (const auto& l : bundle.info.labels) known += (known.empty() ? "" : ", ") + l;
  throw UsageError(what + ": unknown label '" + label + "' (the model's labels: " + known + ")");
}

double round6(double p) { return attrib::detail::round6(p); }

nlohmann::ordered_json probs_json(const model::Bundle& bundle, const std::vector<double>& probs) {
  nlohmann::ordered_json p = nlohmann::ordered_json::object();
  for (std::size_t c = 0; c < probs.size() && c < bundle.info.labels.size(); ++c)
    p[bundle.info.labels[c]] = round6(probs[c]);
  return p;
}

std::vector<data::Example> read_all(const std::string& path, const data::CorpusOptions& options,
                                    comm::Communicator& comm) {
  std::vector<data::Example> out;
  comm::collective_check(comm, "reading " + path, [&] { out = data::read_corpus(path, options); });
  return out;
}

model::Bundle load_model(const std::string& dir, comm::Communicator& comm) {
  model::Bundle bundle;
  comm::collective_check(comm, "loading the model bundle " + dir, [&] {
    bundle = model::load_bundle(dir);
    bundle.model->train(false);
  });
  return bundle;
}

void make_parent_dir(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
}

data::Encoding encode(const model::Bundle& bundle, const data::Example& example) {
  std::optional<std::string_view> pair;
  if (example.text_pair) pair = *example.text_pair;
  return bundle.tokenizer->encode(example.text, pair, bundle.info.max_length);
}

std::vector<double> row_probs(const torch::Tensor& logits, std::int64_t row) {
  const torch::Tensor p = torch::softmax(logits[row].to(torch::kDouble), 0).contiguous();
  return std::vector<double>(p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
}

std::optional<std::int64_t> known_gold(const model::Bundle& bundle, const data::Example& example) {
  if (!example.label) return std::nullopt;
  const std::int64_t gold = bundle.label_index(*example.label);
  if (gold == data::kNoLabel) return std::nullopt;
  return gold;
}

const std::string& segment_text(const data::Example& example, std::int64_t segment) {
  return segment == 1 && example.text_pair ? *example.text_pair : example.text;
}

}  // namespace fathom::attack::detail
