// `fathom influence` end to end, against an independent reference: for the
// classifier head the Hessian of the mean cross-entropy has a closed form,
//   H = (1/n) Σ_i (diag(p_i) − p_i p_iᵀ) ⊗ [f_i; 1][f_i; 1]ᵀ,
// built here from the cache's features and the model's head (no autograd,
// no attrib code), and the gradients are (p − e_y) ⊗ [f; 1].
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "cli/fathom_process.h"
#include "fathom/attrib/query_features.h"
#include "fathom/attrib/score_matrix.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/data/corpus.h"
#include "fathom/grads/cache_build.h"
#include "fathom/model/bundle.h"
#include "fathom/model/train.h"
#include "fathom/store/cache_reader.h"
#include "model/train_helpers.h"
#include "temp_dir.h"
#include "test_files.h"

namespace fathom::attrib {
namespace {

namespace fs = std::filesystem;
using cli::testing::run_fathom;

constexpr double kDamping = 0.01;

class InfluenceCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    comm_ = comm::make_communicator("local");
    dir_ = new fathom::testing::TempDir("influence-cli");
    const fs::path d = dir_->path();
    train_ = (d / "train.jsonl").string();
    queries_ = (d / "queries.jsonl").string();
    fathom::testing::write_sentiment_corpus(train_, 120, 21);
    fathom::testing::write_sentiment_corpus(queries_, 6, 22);
    model::TrainOptions t;
    t.corpus = train_;
    t.out_dir = (d / "model").string();
    t.embedding_dim = 8;
    t.hidden_dim = 6;
    t.epochs = 3;
    t.lr = 0.05;
    t.batch = 16;
    t.dropout = 0;
    t.l2_last = 0.01;
    t.seed = 3;
    t.threads = 1;
    model::train_model(t, *comm_);
    model_ = t.out_dir;
    grads::CacheOptions c;
    c.model_dir = model_;
    c.corpus = train_;
    c.out = (d / "cache.h5").string();
    c.target = "gold";
    c.batch = 16;
    c.rows_per_chunk = 32;
    c.threads = 1;
    grads::build_cache(c, *comm_);
    cache_ = c.out;
    index_ = (d / "features.faiss").string();
    auto r = run_fathom("index --cache " + cache_ + " --field features --spec Flat --out " + index_);
    ASSERT_EQ(r.code, 0) << r.output;
    reference_ = new Reference(build_reference());
  }
  static void TearDownTestSuite() {
    delete reference_;
    delete dir_;
    comm_.reset();
  }

  struct Reference {
    std::vector<std::string> train_ids, query_ids;
    torch::Tensor scores;  // [Q, N]
  };

  // Scores from the closed-form head Hessian and gradients.
  static Reference build_reference() {
    Reference ref;
    auto reader = store::CacheReader::open(cache_);
    const std::int64_t N = reader.rows(), H = reader.dataset("features").values_per_row();
    std::vector<float> f(static_cast<std::size_t>(N * H));
    reader.read_rows("features", 0, N, f.data());
    std::vector<std::int64_t> y(static_cast<std::size_t>(N));
    reader.read_rows("labels", 0, N, y.data());
    ref.train_ids = reader.read_strings("ids", 0, N);
    auto bundle = model::load_bundle(model_);
    torch::Tensor W, b;
    for (auto& [name, p] : bundle.model->named_parameters()) {
      if (name == "classifier.weight") W = p.detach().to(torch::kDouble);
      if (name == "classifier.bias") b = p.detach().to(torch::kDouble);
    }
    const std::int64_t C = W.size(0), P = C * (H + 1);
    auto head_terms = [&](const torch::Tensor& feats) {  // [n,H] -> x = [f;1], p
      torch::Tensor x = torch::cat({feats, torch::ones({feats.size(0), 1}, torch::kDouble)}, 1);
      torch::Tensor p = torch::softmax(feats.matmul(W.t()) + b, 1);
      return std::make_pair(x, p);
    };
    // Flat layout: classifier.weight [C,H] row-major, then classifier.bias [C].
    auto flat_gradient = [&](const torch::Tensor& x, const torch::Tensor& r) {  // r = p - e_y, [C]
      torch::Tensor g = torch::zeros({P}, torch::kDouble);
      g.narrow(0, 0, C * H).copy_(torch::outer(r, x.narrow(0, 0, H)).reshape(-1));
      g.narrow(0, C * H, C).copy_(r);
      return g;
    };
    const torch::Tensor F = torch::from_blob(f.data(), {N, H}, torch::kFloat).to(torch::kDouble);
    auto [X, Pr] = head_terms(F);
    // Hessian in the (c, j) basis with j over [f;1], then permuted to the layout.
    torch::Tensor Hk = torch::zeros({C, H + 1, C, H + 1}, torch::kDouble);
    torch::Tensor G = torch::zeros({N, P}, torch::kDouble);
    for (std::int64_t i = 0; i < N; ++i) {
      torch::Tensor p = Pr[i], x = X[i];
      torch::Tensor A = torch::diag(p) - torch::outer(p, p);
      Hk += torch::einsum("ab,jk->ajbk", {A, torch::outer(x, x)});
      torch::Tensor r = p.clone();
      r[y[std::size_t(i)]] -= 1;
      G[i] = flat_gradient(x, r);
    }
    Hk /= double(N);
    // layout index of (c, j): j < H -> c*H + j; j == H -> C*H + c
    std::vector<std::int64_t> where;
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t j = 0; j <= H; ++j) where.push_back(j < H ? c * H + j : C * H + c);
    torch::Tensor perm = torch::tensor(where, torch::kLong);
    torch::Tensor Hflat = torch::zeros({P, P}, torch::kDouble);
    Hflat.index_put_({perm.unsqueeze(1), perm.unsqueeze(0)}, Hk.reshape({P, P}));
    // Queries at their predicted label.
    std::vector<data::Example> q;
    data::CorpusReader rd(queries_, data::CorpusOptions{});
    data::Example e;
    while (rd.next(e)) q.push_back(e), ref.query_ids.push_back(e.id);
    const QueryFeatures qf = compute_features_local(bundle, q, 8);
    auto [Xq, Pq] = head_terms(qf.features.to(torch::kDouble));
    torch::Tensor Gq = torch::zeros({std::int64_t(q.size()), P}, torch::kDouble);
    for (std::int64_t t = 0; t < Gq.size(0); ++t) {
      torch::Tensor r = Pq[t].clone();
      r[Pq[t].argmax().item<std::int64_t>()] -= 1;
      Gq[t] = flat_gradient(Xq[t], r);
    }
    torch::Tensor s = torch::linalg::solve(Hflat + kDamping * torch::eye(P, torch::kDouble), Gq.t(), true).t();
    ref.scores = s.matmul(G.t()) / double(N);
    return ref;
  }

  static std::string common() {
    return " --model " + model_ + " --cache " + cache_ + " --queries " + queries_ + " --damping " +
           std::to_string(kDamping);
  }

  // Every listed score equals the reference, and the lists are the true top.
  static void expect_matches_reference(const std::string& out, std::int64_t top, double tol) {
    auto lines = fathom::testing::read_jsonl(out);
    ASSERT_EQ(lines.size(), reference_->query_ids.size());
    std::map<std::string, std::int64_t> column;
    for (std::size_t i = 0; i < reference_->train_ids.size(); ++i) column[reference_->train_ids[i]] = std::int64_t(i);
    for (std::size_t q = 0; q < lines.size(); ++q) {
      const auto& line = lines[q];
      EXPECT_EQ(line["id"], reference_->query_ids[q]);
      torch::Tensor row = reference_->scores[std::int64_t(q)];
      auto sorted = std::get<0>(row.sort(0, /*descending=*/true));
      const double scale = row.abs().max().item<double>();
      ASSERT_EQ(std::int64_t(line["proponents"].size()), top);
      for (std::int64_t j = 0; j < top; ++j) {
        const auto& p = line["proponents"][std::size_t(j)];
        const double want = row[column.at(p["id"])].item<double>();
        EXPECT_NEAR(p["score"].get<double>(), want, tol * scale) << "query " << q << " proponent " << j;
        // The j-th listed proponent has the j-th largest reference score.
        EXPECT_NEAR(want, sorted[j].item<double>(), tol * scale) << "query " << q << " rank " << j;
        const auto& o = line["opponents"][std::size_t(j)];
        EXPECT_NEAR(o["score"].get<double>(), row[column.at(o["id"])].item<double>(), tol * scale);
        EXPECT_NEAR(o["score"].get<double>(), sorted[row.size(0) - 1 - j].item<double>(), tol * scale);
      }
    }
  }

  static std::unique_ptr<comm::Communicator> comm_;
  static fathom::testing::TempDir* dir_;
  static std::string train_, queries_, model_, cache_, index_;
  static Reference* reference_;
};
std::unique_ptr<comm::Communicator> InfluenceCliTest::comm_;
fathom::testing::TempDir* InfluenceCliTest::dir_ = nullptr;
std::string InfluenceCliTest::train_, InfluenceCliTest::queries_, InfluenceCliTest::model_, InfluenceCliTest::cache_,
    InfluenceCliTest::index_;
InfluenceCliTest::Reference* InfluenceCliTest::reference_ = nullptr;

TEST_F(InfluenceCliTest, ExactAndCgEqualTheClosedFormReference) {
  for (const char* solver : {"exact", "cg"}) {
    const std::string out = (dir_->path() / (std::string(solver) + ".jsonl")).string();
    const std::string scores = (dir_->path() / (std::string(solver) + ".h5")).string();
    auto r = run_fathom(std::string("influence") + common() + " --solver " + solver +
                        " --tolerance 1e-10 --top 5 --scores-out " + scores + " --out " + out);
    ASSERT_EQ(r.code, 0) << r.output;
    expect_matches_reference(out, 5, 1e-4);
    const ScoreMatrix m = read_score_matrix(scores);
    ASSERT_EQ(m.query_ids, reference_->query_ids);
    ASSERT_EQ(m.train_ids, reference_->train_ids);
    const torch::Tensor got = torch::tensor(m.scores).reshape({std::int64_t(m.query_ids.size()), -1}).to(torch::kDouble);
    EXPECT_LT((got - reference_->scores).abs().max().item<double>(),
              1e-4 * reference_->scores.abs().max().item<double>());
    auto meta = fathom::testing::read_json(out + ".meta.json");
    EXPECT_EQ(meta["solver"]["solver"], solver);
    EXPECT_NE(meta["sign"].get<std::string>().find("increase of the test loss"), std::string::npos);
    EXPECT_EQ(meta["params"].size(), 2u);
  }
}

// Spearman rank correlation (average ranks for ties), written out here.
double spearman(const torch::Tensor& a, const torch::Tensor& b) {
  auto ranks = [](const torch::Tensor& x) {
    const std::int64_t n = x.size(0);
    torch::Tensor order = x.argsort();
    torch::Tensor r = torch::empty({n}, torch::kDouble);
    for (std::int64_t i = 0; i < n;) {
      std::int64_t j = i;
      while (j + 1 < n && x[order[j + 1]].item<double>() == x[order[i]].item<double>()) ++j;
      for (std::int64_t t = i; t <= j; ++t) r[order[t]] = 0.5 * double(i + j);
      i = j + 1;
    }
    return r;
  };
  torch::Tensor ra = ranks(a), rb = ranks(b);
  ra -= ra.mean();
  rb -= rb.mean();
  return (ra * rb).sum().item<double>() / (ra.norm() * rb.norm()).item<double>();
}

// LiSSA is stochastic: its scores must rank the training set like the
// reference (METHODS: Spearman >= 0.95) and point the same way (cosine >= 0.99).
TEST_F(InfluenceCliTest, LissaRanksLikeTheReference) {
  const std::string out = (dir_->path() / "lissa.jsonl").string();
  const std::string scores = (dir_->path() / "lissa.h5").string();
  auto r = run_fathom("influence" + common() + " --solver lissa --depth 1500 --batch 60 --repeats 2 --top 5 --scores-out " +
                      scores + " --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  const ScoreMatrix m = read_score_matrix(scores);
  const torch::Tensor got = torch::tensor(m.scores).reshape({std::int64_t(m.query_ids.size()), -1}).to(torch::kDouble);
  for (std::int64_t q = 0; q < got.size(0); ++q) {
    const torch::Tensor want = reference_->scores[q];
    EXPECT_GE(spearman(got[q], want), 0.95) << "query " << q;
    EXPECT_GE((got[q] * want).sum().item<double>() / (got[q].norm() * want.norm()).item<double>(), 0.99) << "query " << q;
  }
  auto meta = fathom::testing::read_json(out + ".meta.json");
  EXPECT_GT(meta["solver"]["lambda_max"].get<double>(), 0);
}

TEST_F(InfluenceCliTest, FastIfWithAllRowsAsCandidatesIsTheFullScan) {
  const std::string out = (dir_->path() / "fastif.jsonl").string();
  auto r = run_fathom("influence" + common() + " --solver exact --top 5 --candidates knn:1000 --index " + index_ +
                      " --corpus " + train_ + " --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  expect_matches_reference(out, 5, 1e-4);
  auto meta = fathom::testing::read_json(out + ".meta.json");
  EXPECT_DOUBLE_EQ(meta["recall"]["proponents"].get<double>(), 1.0);
  auto lines = fathom::testing::read_jsonl(out);
  EXPECT_TRUE(lines[0]["proponents"][0].contains("text"));
  // A small K scores fewer rows: recall is measured, not assumed.
  const std::string small = (dir_->path() / "fastif-small.jsonl").string();
  r = run_fathom("influence" + common() + " --solver exact --top 5 --candidates knn:10 --index " + index_ + " --out " +
                 small);
  ASSERT_EQ(r.code, 0) << r.output;
  auto m2 = fathom::testing::read_json(small + ".meta.json");
  EXPECT_LE(m2["recall"]["proponents"].get<double>(), 1.0);
  EXPECT_GE(m2["recall"]["proponents"].get<double>(), 0.0);
}

// FastIF over an inner-product index of the cached gradients: the candidates
// are the rows of largest and smallest s_test . g, so with a Flat index even
// K = top gives exactly the full scan's lists (recall 1); an l2 gradient index
// is refused.
TEST_F(InfluenceCliTest, FastIfOverAGradientIndexIsExactWithFlat) {
  const std::string gindex = (dir_->path() / "gradients-ip.faiss").string();
  auto r = run_fathom("index --cache " + cache_ + " --field gradients --metric ip --spec Flat --out " + gindex);
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string out = (dir_->path() / "fastif-grad.jsonl").string();
  r = run_fathom("influence" + common() + " --solver exact --top 5 --candidates knn:5 --index " + gindex +
                 " --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  expect_matches_reference(out, 5, 1e-4);
  auto meta = fathom::testing::read_json(out + ".meta.json");
  EXPECT_DOUBLE_EQ(meta["recall"]["proponents"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(meta["recall"]["opponents"].get<double>(), 1.0);

  const std::string l2 = (dir_->path() / "gradients-l2.faiss").string();
  r = run_fathom("index --cache " + cache_ + " --field gradients --spec Flat --out " + l2);
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string bad = (dir_->path() / "fastif-l2.jsonl").string();
  r = run_fathom("influence" + common() + " --solver exact --candidates knn:5 --index " + l2 + " --out " + bad);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--metric ip"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(bad));
}

TEST_F(InfluenceCliTest, BadInputsExitTwoAndWriteNothing) {
  const std::string out = (dir_->path() / "bad.jsonl").string();
  // Divergent LiSSA: the hint, exit 2, no output.
  auto r = run_fathom("influence" + common() + " --solver lissa --scale 1e-6 --depth 200 --out " + out);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("raise --scale"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));
  // A query label the model does not know.
  const std::string odd = (dir_->path() / "odd.jsonl").string();
  std::ofstream(odd) << "{\"id\": \"q1\", \"text\": \"good movie\", \"label\": \"maybe\"}\n";
  r = run_fathom("influence --model " + model_ + " --cache " + cache_ + " --queries " + odd + " --out " + out);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("maybe"), std::string::npos) << r.output;
  // A cache of another model.
  const std::string other = (dir_->path() / "other-model").string();
  model::TrainOptions t;
  t.corpus = train_;
  t.out_dir = other;
  t.embedding_dim = 8;
  t.hidden_dim = 6;
  t.epochs = 1;
  t.seed = 99;
  t.threads = 1;
  model::train_model(t, *comm_);
  r = run_fathom("influence --model " + other + " --cache " + cache_ + " --queries " + queries_ + " --out " + out);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("was not built from the model"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));
  // Options.
  EXPECT_EQ(run_fathom("influence" + common() + " --candidates knn:5 --out " + out).code, 2);
  EXPECT_EQ(run_fathom("influence" + common() + " --solver newton --out " + out).code, 2);
  EXPECT_EQ(run_fathom("influence" + common() + " --target maybe --out " + out).code, 2);
}

}  // namespace
}  // namespace fathom::attrib
