#pragma once
// The data the self-influence tests share (tests/attrib/self_influence_test.cpp
// and the multi-rank program tests/attrib/mpi/self_influence_mpi.cpp): a small
// sentiment corpus with some labels flipped, a tiny boe model trained with
// fathom's train API (per-epoch checkpoints whose learning rates are then
// rewritten to differ, so TracIn's η_k weighting is visible), its gradient
// cache over ALL parameters, and a query corpus. Plus independent references
// in plain autograd (one backward per example, checkpoints loaded by hand),
// never through attrib.
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fathom/comm/communicator.h"
#include "fathom/data/corpus.h"
#include "fathom/grads/cache_build.h"
#include "fathom/grads/param_layout.h"
#include "fathom/model/batching.h"
#include "fathom/model/bundle.h"
#include "fathom/model/train.h"
#include "model/train_helpers.h"
#include "test_files.h"

namespace fathom::attrib::selfinf_testing {

namespace fs = std::filesystem;

struct SelfInfluenceData {
  fs::path dir;
  std::string train, queries, model, cache;
  std::vector<double> lrs;  // the rewritten η_k of epochs 1..K
};

// Every 9th record's label flipped.
inline bool flipped_row(int i) { return i % 9 == 4; }

// COLLECTIVE (every rank passes the same dir). Rank 0 writes the corpora and
// rewrites the checkpoints' lr; `comm` trains and caches.
inline SelfInfluenceData build_self_influence_data(const fs::path& dir, comm::Communicator& comm, int n = 80) {
  SelfInfluenceData d;
  d.dir = dir;
  d.train = (dir / "train.jsonl").string();
  d.queries = (dir / "queries.jsonl").string();
  d.model = (dir / "model").string();
  d.cache = (dir / "cache.h5").string();
  d.lrs = {0.05, 0.02, 0.01};
  if (comm.is_root()) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string clean = (dir / "clean.jsonl").string();
    fathom::testing::write_sentiment_corpus(clean, n, 21);
    fathom::testing::write_sentiment_corpus(d.queries, 12, 22);
    std::ifstream in(clean);
    std::ofstream out(d.train);
    std::string line;
    for (int i = 0; std::getline(in, line); ++i) {
      auto j = nlohmann::json::parse(line);
      if (flipped_row(i)) j["label"] = j["label"] == "pos" ? "neg" : "pos";
      out << j.dump() << "\n";
    }
  }
  comm.barrier();
  model::TrainOptions t;
  t.corpus = d.train;
  t.out_dir = d.model;
  t.embedding_dim = 6;
  t.hidden_dim = 5;
  t.epochs = std::int64_t(d.lrs.size());
  t.lr = 0.05;
  t.batch = 16;
  t.dropout = 0;
  t.l2_last = 0.01;
  t.seed = 4;
  t.threads = 1;
  model::train_model(t, comm);
  if (comm.is_root()) {
    for (std::size_t k = 0; k < d.lrs.size(); ++k) {
      const std::string state = (fs::path(d.model) / "checkpoints" / ("epoch-" + std::to_string(k + 1)) / "state.json").string();
      auto j = fathom::testing::read_json(state);
      j["lr"] = d.lrs[k];
      std::ofstream(state) << j.dump(2) << "\n";
    }
  }
  grads::CacheOptions c;
  c.model_dir = d.model;
  c.corpus = d.train;
  c.out = d.cache;
  c.params = "all";
  c.batch = 16;
  c.rows_per_chunk = 16;
  c.threads = 1;
  grads::build_cache(c, comm);
  comm.barrier();
  return d;
}

inline std::vector<data::Example> read_examples(const std::string& path) {
  data::CorpusReader reader(path, data::CorpusOptions{});
  std::vector<data::Example> out;
  data::Example e;
  while (reader.next(e)) out.push_back(e);
  return out;
}

// A float64 bundle of `model_dir`, optionally with another weights file.
inline model::Bundle double_bundle(const std::string& model_dir, const std::string& weights = "") {
  model::Bundle b = model::load_bundle(model_dir);
  if (!weights.empty()) b.model->load_weights(weights);
  b.model->to(torch::kCPU, torch::kDouble);
  b.model->train(false);
  return b;
}

inline model::Batch batch_of(const model::Bundle& b, const std::vector<data::Example>& examples) {
  std::vector<std::int64_t> rows(examples.size());
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = std::int64_t(i);
  return model::make_batch(examples, *b.tokenizer, b.info.max_length, b.info.labels, rows);
}

// [n, P] gradients of every parameter, one example at a time (its own
// unpadded batch and backward), at `labels` (gold when empty).
inline torch::Tensor plain_gradients(model::Bundle& b, const std::vector<data::Example>& examples,
                                     const std::vector<std::int64_t>& labels = {}) {
  std::vector<torch::Tensor> params;
  for (auto& [name, t] : b.model->named_parameters()) params.push_back(t);
  std::vector<torch::Tensor> rows;
  torch::AutoGradMode on(true);
  for (std::size_t i = 0; i < examples.size(); ++i) {
    model::Batch one = batch_of(b, {examples[i]});
    if (!labels.empty()) one.labels = torch::tensor({labels[i]}, torch::kLong);
    auto loss = torch::nn::functional::cross_entropy(b.model->forward(one).logits, one.labels);
    auto g = torch::autograd::grad({loss}, params, {}, false, false, true);
    std::vector<torch::Tensor> flat;
    for (std::size_t j = 0; j < g.size(); ++j)
      flat.push_back(g[j].defined() ? g[j].reshape(-1) : torch::zeros({params[j].numel()}, torch::kDouble));
    rows.push_back(torch::cat(flat));
  }
  return torch::stack(rows);
}

// The model's predicted labels of `examples`.
inline std::vector<std::int64_t> predicted(model::Bundle& b, const std::vector<data::Example>& examples) {
  torch::NoGradGuard no_grad;
  auto p = b.model->forward(batch_of(b, examples)).logits.argmax(1).contiguous();
  return std::vector<std::int64_t>(p.data_ptr<std::int64_t>(), p.data_ptr<std::int64_t>() + p.numel());
}

// id -> score of a self-influence output; also checks the lines are ranked.
inline std::map<std::string, double> scores_by_id(const std::string& path, bool* ranked = nullptr) {
  std::map<std::string, double> out;
  double last = INFINITY;
  bool ok = true;
  std::int64_t k = 0;
  for (const auto& j : fathom::testing::read_jsonl(path)) {
    ++k;
    const double s = j.at("score").get<double>();
    ok = ok && s <= last && j.at("rank").get<std::int64_t>() == k;
    last = s;
    out[j.at("id").get<std::string>()] = s;
  }
  if (ranked) *ranked = ok;
  return out;
}

// Largest |a − b| / (1e-8 + |b|) over ids; INFINITY when the id sets differ.
inline double worst_relative(const std::map<std::string, double>& a, const std::map<std::string, double>& b) {
  if (a.size() != b.size()) return INFINITY;
  double worst = 0;
  for (const auto& [id, v] : b) {
    auto it = a.find(id);
    if (it == a.end()) return INFINITY;
    worst = std::max(worst, std::abs(it->second - v) / (1e-8 + std::abs(v)));
  }
  return worst;
}

}  // namespace fathom::attrib::selfinf_testing
