#pragma once
// What the LDS tests share (tests/attrib/lds_test.cpp and the multi-rank
// program tests/attrib/mpi/lds_mpi_main.cpp):
//  * a convex problem on hand-made frozen features (logistic regression
//    head), with an independent reference: the objective's explicit Hessian
//    and per-example gradients by plain torch autograd, and the exact
//    influence score(i, t) = g_tᵀ H⁺ g_i / n from them;
//  * a tiny trained boe model with a training and a query corpus, and a
//    score matrix for them.
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fathom/attrib/lds.h"
#include "fathom/attrib/score_matrix.h"
#include "fathom/comm/communicator.h"
#include "fathom/data/corpus.h"
#include "fathom/model/train.h"
#include "model/train_helpers.h"

namespace fathom::attrib::lds_testing {

namespace fs = std::filesystem;

// N training rows and Q query rows of dimension H, two or more classes:
// labels from a random linear rule with 15% of them flipped (so some rows
// argue against the rule: opponents).
struct ConvexData {
  FrozenHead train;
  std::vector<float> query_features;     // [Q * H]
  std::vector<std::int64_t> query_labels;
  std::int64_t queries = 0;
};

inline ConvexData make_convex_data(std::int64_t n, std::int64_t q, std::int64_t h, std::int64_t classes, double lambda,
                                   std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<double> rule(static_cast<std::size_t>(classes * h));
  for (auto& w : rule) w = normal(rng);
  auto draw = [&](std::int64_t rows, std::vector<float>& f, std::vector<std::int64_t>& y) {
    f.resize(std::size_t(rows * h));
    y.resize(std::size_t(rows));
    for (std::int64_t i = 0; i < rows; ++i) {
      for (std::int64_t k = 0; k < h; ++k) f[std::size_t(i * h + k)] = float(normal(rng));
      std::int64_t best = 0;
      double best_z = -1e300;
      for (std::int64_t c = 0; c < classes; ++c) {
        double z = 0;
        for (std::int64_t k = 0; k < h; ++k) z += rule[std::size_t(c * h + k)] * f[std::size_t(i * h + k)];
        if (z > best_z) best_z = z, best = c;
      }
      if (uniform(rng) < 0.15) best = (best + 1) % classes;
      y[std::size_t(i)] = best;
    }
  };
  ConvexData d;
  d.train.rows = n;
  d.train.dim = h;
  d.train.classes = classes;
  d.train.lambda = lambda;
  draw(n, d.train.features, d.train.labels);
  draw(q, d.query_features, d.query_labels);
  d.queries = q;
  return d;
}

inline Head zero_head(std::int64_t classes, std::int64_t dim) {
  Head h;
  h.classes = classes;
  h.dim = dim;
  h.weight.assign(std::size_t(classes * dim), 0.0);
  h.bias.assign(std::size_t(classes), 0.0);
  return h;
}

// θ = [W row-major, b] as a double tensor.
inline torch::Tensor theta_of(const Head& h) { return torch::tensor(h.flat(), torch::kDouble); }

// Mean CE of rows (features [m, H] double, labels) at θ, by autograd ops.
inline torch::Tensor mean_ce(const torch::Tensor& theta, const torch::Tensor& f, const torch::Tensor& y,
                             std::int64_t classes) {
  const std::int64_t h = f.size(1);
  auto w = theta.slice(0, 0, classes * h).reshape({classes, h});
  auto b = theta.slice(0, classes * h);
  return torch::nn::functional::cross_entropy(torch::matmul(f, w.t()) + b, y);
}

// Exact influence scores [Q, N] of the convex problem at θ (the full fit):
// score(i, t) = g_tᵀ H⁺ g_i / n, H the explicit Hessian of
// (1/n) Σ CE + λ‖W‖² (pseudo-inverse: with softmax, equal bias shifts are a
// flat direction that no gradient has a component along).
inline torch::Tensor exact_influence(const ConvexData& d, const Head& at, const std::vector<std::int64_t>& targets) {
  torch::AutoGradMode on(true);
  const std::int64_t n = d.train.rows, h = d.train.dim, c = d.train.classes;
  auto f = torch::tensor(std::vector<double>(d.train.features.begin(), d.train.features.end()), torch::kDouble).reshape({n, h});
  auto y = torch::tensor(d.train.labels, torch::kLong);
  auto theta = theta_of(at).set_requires_grad(true);
  const double lambda = d.train.lambda;
  auto objective = [&](const torch::Tensor& t) {
    auto w = t.slice(0, 0, c * h);
    return mean_ce(t, f, y, c) + lambda * (w * w).sum();
  };
  const std::int64_t p = theta.numel();
  auto g = torch::autograd::grad({objective(theta)}, {theta}, {}, true, true)[0];
  auto hessian = torch::zeros({p, p}, torch::kDouble);
  for (std::int64_t k = 0; k < p; ++k)
    hessian[k] = torch::autograd::grad({g[k]}, {theta}, {}, true)[0].detach();
  auto h_pinv = torch::linalg::pinv(hessian, 1e-10, true);
  auto per_example = [&](const torch::Tensor& fi, std::int64_t yi) {
    auto t = theta.detach().clone().set_requires_grad(true);
    auto l = mean_ce(t, fi.reshape({1, h}), torch::tensor(std::vector<std::int64_t>{yi}, torch::kLong), c);
    return torch::autograd::grad({l}, {t})[0];
  };
  auto g_train = torch::zeros({n, p}, torch::kDouble);
  for (std::int64_t i = 0; i < n; ++i) g_train[i] = per_example(f[i], d.train.labels[std::size_t(i)]);
  auto qf = torch::tensor(std::vector<double>(d.query_features.begin(), d.query_features.end()), torch::kDouble).reshape({d.queries, h});
  auto g_query = torch::zeros({d.queries, p}, torch::kDouble);
  for (std::int64_t t = 0; t < d.queries; ++t) g_query[t] = per_example(qf[t], targets[std::size_t(t)]);
  return torch::matmul(torch::matmul(g_query, h_pinv), g_train.t()) / double(n);
}

// ‖∇θ‖ of the objective over `rows` at `head`, by autograd (independent of
// representer_head.cpp).
inline double autograd_gradient_norm(const FrozenHead& d, const std::vector<std::int64_t>& rows, const Head& head) {
  torch::AutoGradMode on(true);
  const std::int64_t h = d.dim;
  std::vector<double> f;
  std::vector<std::int64_t> y;
  for (std::int64_t i : rows) {
    f.insert(f.end(), d.features.begin() + i * h, d.features.begin() + (i + 1) * h);
    y.push_back(d.labels[std::size_t(i)]);
  }
  auto ft = torch::tensor(f, torch::kDouble).reshape({std::int64_t(rows.size()), h});
  auto theta = theta_of(head).set_requires_grad(true);
  auto w = theta.slice(0, 0, d.classes * h);
  auto obj = mean_ce(theta, ft, torch::tensor(y, torch::kLong), d.classes) + d.lambda * (w * w).sum();
  return torch::autograd::grad({obj}, {theta})[0].norm().item<double>();
}

// ---- a tiny model for lds() ----

struct ModelData {
  fs::path dir;
  std::string model, corpus, queries, scores;
  std::vector<std::string> train_ids, query_ids;
};

inline std::vector<std::string> ids_of(const std::string& path) {
  std::vector<std::string> ids;
  for (const auto& e : data::read_corpus(path, data::CorpusOptions{})) ids.push_back(e.id);
  return ids;
}

// COLLECTIVE (same dir on every rank): rank 0 writes the corpora and a score
// matrix of pseudo-random scores; `comm` trains a boe model with checkpoints
// (so --retrain full has a recipe) and --l2-last.
inline ModelData build_model_data(const fs::path& dir, comm::Communicator& comm) {
  ModelData d;
  d.dir = dir;
  d.corpus = (dir / "train.jsonl").string();
  d.queries = (dir / "queries.jsonl").string();
  d.scores = (dir / "scores.h5").string();
  d.model = (dir / "model").string();
  if (comm.is_root()) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    fathom::testing::write_sentiment_corpus(d.corpus, 60, 21);
    fathom::testing::write_sentiment_corpus(d.queries, 8, 22);
  }
  comm.barrier();
  model::TrainOptions t;
  t.corpus = d.corpus;
  t.out_dir = d.model;
  t.embedding_dim = 8;
  t.hidden_dim = 6;
  t.epochs = 2;
  t.lr = 0.05;
  t.batch = 16;
  t.dropout = 0;
  t.l2_last = 0.01;
  t.seed = 3;
  t.threads = 1;
  model::train_model(t, comm);
  d.train_ids = ids_of(d.corpus);
  d.query_ids = ids_of(d.queries);
  if (comm.is_root()) {
    ScoreMatrix m;
    m.method = "test:random";
    m.sign = "test";
    m.query_ids = d.query_ids;
    m.train_ids = d.train_ids;
    std::mt19937_64 rng(9);
    std::normal_distribution<float> normal(0.f, 1.f);
    for (std::size_t k = 0; k < m.query_ids.size() * m.train_ids.size(); ++k) m.scores.push_back(normal(rng));
    write_score_matrix(d.scores, m);
  }
  comm.barrier();
  return d;
}

inline LdsOptions model_options(const ModelData& d, const std::string& out) {
  LdsOptions o;
  o.model_dir = d.model;
  o.corpus = d.corpus;
  o.queries = d.queries;
  o.scores = d.scores;
  o.out = out;
  o.subsets = 6;
  o.loo = 2;
  o.bootstrap = 200;
  o.batch = 16;
  o.threads = 1;
  o.seed = 4;
  return o;
}

}  // namespace fathom::attrib::lds_testing
