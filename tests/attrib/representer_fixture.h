#pragma once
// The data the representer tests share (representer_test.cpp and the
// multi-rank program): a small sentiment corpus with flipped labels, two tiny boe models trained
// with fathom's train API (one with --l2-last, one without), a gradient cache
// of the training corpus per model (every 10th record without a label, so α
// has rows that must be 0), and query corpora. Plus independent references
// written against the model contract and plain torch autograd, never through
// attrib.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fathom/comm/communicator.h"
#include "fathom/data/corpus.h"
#include "fathom/data/example.h"
#include "fathom/grads/cache_build.h"
#include "fathom/model/batching.h"
#include "fathom/model/bundle.h"
#include "fathom/model/train.h"
#include "fathom/store/cache_reader.h"
#include "model/train_helpers.h"
#include "test_files.h"

namespace fathom::attrib::representer_testing {

namespace fs = std::filesystem;
using fathom::testing::read_json;
using fathom::testing::read_jsonl;
inline std::string file_text(const std::string& path) { return fathom::testing::slurp(path); }

struct RepresenterData {
  fs::path dir;
  std::string l2_model, plain_model;   // trained with --l2-last 0.01 / without
  std::string l2_cache, plain_cache;   // their caches of `cache_corpus`
  std::string cache_corpus, queries;
};

inline constexpr double kTrainL2Last = 0.01;

// COLLECTIVE (every rank passes the same dir). Rank 0 writes the corpora;
// `comm` trains and caches.
inline RepresenterData build_representer_data(const fs::path& dir, comm::Communicator& comm) {
  RepresenterData d;
  d.dir = dir;
  d.cache_corpus = (dir / "cache-corpus.jsonl").string();
  d.queries = (dir / "queries.jsonl").string();
  const std::string train = (dir / "train.jsonl").string();
  if (comm.is_root()) {
    fs::remove_all(dir);  // a dir left by an earlier process with the same pid would be resumed
    fs::create_directories(dir);
    const std::string clean = (dir / "clean.jsonl").string();
    fathom::testing::write_sentiment_corpus(clean, 200, 11);
    fathom::testing::write_sentiment_corpus(d.queries, 40, 12);
    // Every 7th label flipped (training points that argue against their
    // neighbours: negative representer values), every 10th cache record
    // without a label (α = 0).
    std::ifstream in(clean);
    std::ofstream flipped(train), out(d.cache_corpus);
    std::string line;
    for (int i = 0; std::getline(in, line); ++i) {
      auto j = nlohmann::json::parse(line);
      if (i % 7 == 3) j["label"] = j["label"] == "pos" ? "neg" : "pos";
      flipped << j.dump() << "\n";
      if (i % 10 == 9) j.erase("label");
      out << j.dump() << "\n";
    }
  }
  comm.barrier();
  auto train_one = [&](const std::string& out, double l2_last) {
    model::TrainOptions t;
    t.corpus = train;
    t.out_dir = out;
    t.embedding_dim = 12;
    t.hidden_dim = 10;
    t.epochs = 3;
    t.lr = 0.02;
    t.batch = 16;
    t.dropout = 0;
    t.l2_last = l2_last;
    t.seed = 5;
    t.threads = 1;
    model::train_model(t, comm);
  };
  d.l2_model = (dir / "model-l2").string();
  d.plain_model = (dir / "model-plain").string();
  train_one(d.l2_model, kTrainL2Last);
  train_one(d.plain_model, 0.0);
  auto cache_one = [&](const std::string& model_dir, const std::string& out) {
    grads::CacheOptions c;
    c.model_dir = model_dir;
    c.corpus = d.cache_corpus;
    c.out = out;
    c.target = "predicted";  // some records have no gold label
    c.batch = 16;
    c.rows_per_chunk = 16;   // several chunks, so several reduction blocks and ranks with work
    c.threads = 1;
    grads::build_cache(c, comm);
  };
  d.l2_cache = (dir / "cache-l2.h5").string();
  d.plain_cache = (dir / "cache-plain.h5").string();
  cache_one(d.l2_model, d.l2_cache);
  cache_one(d.plain_model, d.plain_cache);
  return d;
}

// A cache's /features (as float64), /labels and /ids, read back directly.
struct CacheTables {
  std::int64_t rows = 0, width = 0;
  torch::Tensor features;  // [rows, width] double
  std::vector<std::int64_t> labels;
  std::vector<std::string> ids, label_names;

  explicit CacheTables(const std::string& path) {
    auto r = store::CacheReader::open(path);
    rows = r.rows();
    width = r.dataset("features").values_per_row();
    std::vector<float> f(std::size_t(rows * width));
    r.read_rows("features", 0, rows, f.data());
    features = torch::from_blob(f.data(), {rows, width}, torch::kFloat).to(torch::kDouble).clone();
    labels.resize(std::size_t(rows));
    r.read_rows("labels", 0, rows, labels.data());
    ids = r.read_strings("ids", 0, rows);
    label_names = r.attributes().get_strings("labels");
  }
  std::int64_t labelled() const {
    return std::int64_t(std::count_if(labels.begin(), labels.end(), [](std::int64_t y) { return y >= 0; }));
  }
};

// A head read from "<out>.head.json" (W [C,H], b [C] as double tensors).
struct HeadTensors {
  torch::Tensor weight, bias;
};

inline HeadTensors read_head_json(const std::string& path) {
  std::ifstream in(path);
  const auto j = nlohmann::json::parse(in);
  std::vector<double> w;
  for (const auto& row : j.at("weight"))
    for (double v : row) w.push_back(v);
  const auto b = j.at("bias").get<std::vector<double>>();
  const std::int64_t C = std::int64_t(b.size());
  HeadTensors h;
  h.weight = torch::tensor(w, torch::kDouble).reshape({C, -1});
  h.bias = torch::tensor(b, torch::kDouble);
  return h;
}

// The model's own classifier as double tensors.
inline HeadTensors model_head_tensors(const std::string& model_dir) {
  auto bundle = model::load_bundle(model_dir);
  HeadTensors h;
  for (auto& [name, t] : bundle.model->named_parameters()) {
    if (name == "classifier.weight") h.weight = t.detach().to(torch::kDouble).clone();
    if (name == "classifier.bias") h.bias = t.detach().to(torch::kDouble).clone();
  }
  return h;
}

// Objective gradient by plain autograd over the cached features:
// mean CE over labelled rows + λ‖W‖², w.r.t. W and b; returns ‖∇‖₂.
inline double autograd_gradient_norm(const CacheTables& t, const HeadTensors& head, double lambda) {
  torch::AutoGradMode on(true);
  std::vector<std::int64_t> keep, y;
  for (std::int64_t i = 0; i < t.rows; ++i)
    if (t.labels[std::size_t(i)] >= 0) {
      keep.push_back(i);
      y.push_back(t.labels[std::size_t(i)]);
    }
  auto f = t.features.index_select(0, torch::tensor(keep, torch::kLong));
  auto w = head.weight.clone().set_requires_grad(true);
  auto b = head.bias.clone().set_requires_grad(true);
  auto logits = torch::matmul(f, w.t()) + b;
  auto loss = torch::nn::functional::cross_entropy(logits, torch::tensor(y, torch::kLong)) + lambda * (w * w).sum();
  auto g = torch::autograd::grad({loss}, {w, b});
  return std::sqrt((g[0] * g[0]).sum().item<double>() + (g[1] * g[1]).sum().item<double>());
}

// α by the hand formula (e_y − softmax(W f + b)) / (2λn), 0 without a label.
inline torch::Tensor hand_alpha(const CacheTables& t, const HeadTensors& head, double lambda) {
  auto p = torch::softmax(torch::matmul(t.features, head.weight.t()) + head.bias, 1);
  auto a = torch::zeros_like(p);
  const double scale = 1.0 / (2.0 * lambda * double(t.labelled()));
  auto acc = a.accessor<double, 2>();
  auto pa = p.accessor<double, 2>();
  for (std::int64_t i = 0; i < t.rows; ++i) {
    const std::int64_t y = t.labels[std::size_t(i)];
    if (y < 0) continue;
    for (std::int64_t c = 0; c < p.size(1); ++c) acc[i][c] = ((c == y ? 1.0 : 0.0) - pa[i][c]) * scale;
  }
  return a;
}

// Query features by the model contract directly: one example per forward,
// unpadded, eval mode. [Q, H] double, in corpus order.
inline torch::Tensor forward_features(const std::string& model_dir, const std::string& corpus) {
  auto bundle = model::load_bundle(model_dir);
  bundle.model->train(false);
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> rows;
  for (data::Example e : data::read_corpus(corpus, data::CorpusOptions{})) {
    e.label.reset();
    auto x = model::make_batch({e}, *bundle.tokenizer, bundle.info.max_length, bundle.info.labels);
    rows.push_back(bundle.model->forward(x).features.to(torch::kDouble));
  }
  return torch::cat(rows, 0);
}

// /representer_alpha of "<out>.alpha.h5" as [N, C] double, and its lambda.
inline torch::Tensor read_alpha(const std::string& path, double* lambda = nullptr) {
  auto r = store::CacheReader::open(path);
  const std::int64_t C = r.dataset("representer_alpha").values_per_row();
  std::vector<float> a(std::size_t(r.rows() * C));
  r.read_rows("representer_alpha", 0, r.rows(), a.data());
  if (lambda) *lambda = r.attributes().get_double("lambda");
  return torch::from_blob(a.data(), {r.rows(), C}, torch::kFloat).to(torch::kDouble).clone();
}




// Pearson correlation of two equally long vectors.
inline double pearson(const torch::Tensor& x, const torch::Tensor& y) {
  auto a = x.reshape({-1}) - x.mean();
  auto b = y.reshape({-1}) - y.mean();
  return ((a * b).sum() / torch::sqrt((a * a).sum() * (b * b).sum())).item<double>();
}

}  // namespace fathom::attrib::representer_testing
