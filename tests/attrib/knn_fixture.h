#pragma once
// The data the kNN tests share (knn_test.cpp and the multi-rank program): a
// small synth sentiment corpus with flipped labels, a tiny trained boe model,
// a cache of the training corpus (every 10th record without a label, so the
// audit has rows to skip), a Flat index over its features, and an index of
// another cache (the first 60 records) for the refusal tests. Plus an
// independent reference: the cache's features, ids and labels read back, and
// brute-force nearest neighbours in double precision.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "fathom/comm/communicator.h"
#include "fathom/data/corpus.h"
#include "fathom/data/synth.h"
#include "fathom/grads/cache_build.h"
#include "fathom/index/build.h"
#include "fathom/model/batching.h"
#include "fathom/model/bundle.h"
#include "fathom/model/train.h"
#include "fathom/store/cache_reader.h"
#include "test_files.h"

namespace fathom::attrib::testing {

namespace fs = std::filesystem;
using fathom::testing::read_jsonl;
using fathom::testing::slurp;

struct KnnData {
  fs::path dir;
  std::string model, corpus, queries, cache, index, other_index, test_corpus;
};

// COLLECTIVE (every rank passes the same `dir`). Builds everything under dir;
// `comm` trains, caches and indexes (so at N ranks the index has N shards).
inline KnnData build_knn_data(const fs::path& dir, comm::Communicator& comm) {
  KnnData d;
  d.dir = dir;
  if (comm.is_root()) {
    fs::create_directories(dir);
    data::SynthOptions s;
    s.n = 300;
    s.seed = 7;
    s.flip_rate = 0.1;
    s.out_dir = (dir / "data").string();
    data::synthesize(s);
    // The cache corpus: the training corpus with every 10th label removed.
    std::ifstream in(dir / "data" / "train.jsonl");
    std::ofstream out(dir / "train.jsonl"), head(dir / "head.jsonl");
    std::string line;
    for (int i = 0; std::getline(in, line); ++i) {
      auto j = nlohmann::json::parse(line);
      if (i % 10 == 9) j.erase("label");
      out << j.dump() << "\n";
      if (i < 60) head << j.dump() << "\n";
    }
  }
  comm.barrier();
  d.model = (dir / "model").string();
  d.corpus = (dir / "train.jsonl").string();
  d.test_corpus = (dir / "data" / "test.jsonl").string();
  d.cache = (dir / "cache.h5").string();
  d.index = (dir / "flat.faiss").string();
  d.other_index = (dir / "other.faiss").string();

  model::TrainOptions t;
  t.corpus = (dir / "data" / "train.jsonl").string();
  t.out_dir = d.model;
  t.embedding_dim = 16;
  t.hidden_dim = 12;
  t.epochs = 4;
  t.lr = 0.02;
  t.seed = 3;
  model::train_model(t, comm);

  grads::CacheOptions c;
  c.model_dir = d.model;
  c.corpus = d.corpus;
  c.out = d.cache;
  c.target = "predicted";  // some records have no gold label
  c.batch = 16;
  grads::build_cache(c, comm);
  c.corpus = (dir / "head.jsonl").string();
  c.out = (dir / "other.h5").string();
  grads::build_cache(c, comm);

  index::BuildOptions b;
  b.cache = d.cache;
  b.spec = "Flat";
  b.out = d.index;
  index::build_index(b, comm);
  b.cache = (dir / "other.h5").string();
  b.out = d.other_index;
  index::build_index(b, comm);

  // Queries: the test split plus two training records (which must find
  // themselves at distance 0).
  d.queries = (dir / "queries.jsonl").string();
  if (comm.is_root()) {
    std::ofstream q(d.queries);
    std::ifstream test(d.test_corpus), train(d.corpus);
    std::string line;
    while (std::getline(test, line)) q << line << "\n";
    for (int i = 0; std::getline(train, line); ++i)
      if (i == 4 || i == 9) q << line << "\n";
  }
  comm.barrier();
  return d;
}

// The cache read back (not through attrib).
struct CacheTables {
  std::int64_t rows = 0, width = 0;
  std::vector<float> features;  // [rows, width]
  std::vector<std::string> ids;
  std::vector<std::int64_t> labels;
  std::vector<std::string> label_names;
  std::map<std::string, std::int64_t> row_of;

  explicit CacheTables(const std::string& path) {
    auto r = store::CacheReader::open(path);
    rows = r.rows();
    width = r.dataset("features").values_per_row();
    features.resize(std::size_t(rows * width));
    r.read_rows("features", 0, rows, features.data());
    ids = r.read_strings("ids", 0, rows);
    labels.resize(std::size_t(rows));
    r.read_rows("labels", 0, rows, labels.data());
    label_names = r.attributes().get_strings("labels");
    for (std::int64_t i = 0; i < rows; ++i) row_of[ids[std::size_t(i)]] = i;
  }
};

// Squared L2 distance in double between `q` [width] and every cache row, and
// rows sorted nearest first (ties by row), `skip` left out.
struct BruteForce {
  std::vector<double> distance;        // by cache row
  std::vector<std::int64_t> order;     // nearest first

  BruteForce(const CacheTables& t, const double* q, std::int64_t skip = -1) {
    distance.assign(std::size_t(t.rows), 0.0);
    for (std::int64_t i = 0; i < t.rows; ++i) {
      double s = 0;
      for (std::int64_t c = 0; c < t.width; ++c) {
        const double diff = q[c] - double(t.features[std::size_t(i * t.width + c)]);
        s += diff * diff;
      }
      distance[std::size_t(i)] = s;
      if (i != skip) order.push_back(i);
    }
    std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
      return std::make_pair(distance[std::size_t(a)], a) < std::make_pair(distance[std::size_t(b)], b);
    });
  }

  // The k nearest are unambiguous: the k-th and (k+1)-th differ by > tol.
  bool clear_cut(std::int64_t k, double tol) const {
    return std::int64_t(order.size()) <= k ||
           distance[std::size_t(order[std::size_t(k)])] - distance[std::size_t(order[std::size_t(k - 1)])] > tol;
  }
  double kth(std::int64_t k) const { return distance[std::size_t(order[std::size_t(k - 1)])]; }
};

// Query features by the model contract directly: one example per forward,
// unpadded, eval mode.
inline std::vector<double> forward_features(model::Bundle& bundle, data::Example e, std::vector<double>* logits) {
  e.label.reset();
  bundle.model->train(false);
  torch::NoGradGuard no_grad;
  model::Batch x = model::make_batch({e}, *bundle.tokenizer, bundle.info.max_length, bundle.info.labels);
  model::ModelOutput out = bundle.model->forward(x);
  torch::Tensor f = out.features.to(torch::kDouble).contiguous().reshape({-1});
  torch::Tensor l = out.logits.to(torch::kDouble).contiguous().reshape({-1});
  if (logits) logits->assign(l.data_ptr<double>(), l.data_ptr<double>() + l.numel());
  return std::vector<double>(f.data_ptr<double>(), f.data_ptr<double>() + f.numel());
}



}  // namespace fathom::attrib::testing
