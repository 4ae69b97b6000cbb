// Inverse-HVP solvers (inverse_hvp.h) against an independent explicit
// Hessian: on a tiny boe model (all parameters, P ≈ 200) the Hessian of the
// mean training loss is built here coordinate by coordinate with plain
// autograd (one backward per coordinate of the gradient), and
// (H + λI)⁻¹ v solved by torch::linalg::solve.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <numeric>

#include "fathom/attrib/inverse_hvp.h"
#include "fathom/attrib/training_hessian.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/data/corpus.h"
#include "fathom/model/batching.h"
#include "fathom/model/bundle.h"
#include "fathom/model/train.h"
#include "attrib/explicit_hessian.h"
#include "model/train_helpers.h"
#include "temp_dir.h"

namespace fathom::attrib {
namespace {

namespace fs = std::filesystem;

struct Problem {
  model::Bundle bundle;
  std::vector<data::Example> train;
  grads::ParamLayout layout;
  torch::Tensor hessian;  // [P,P] explicit
  TrainingRows rows() const {
    TrainingRows r;
    r.rows = std::int64_t(train.size());
    r.make_batch = [this](const std::vector<std::int64_t>& idx) {
      std::vector<data::Example> picked;
      for (auto i : idx) picked.push_back(train[std::size_t(i)]);
      return model::make_batch(picked, *bundle.tokenizer, bundle.info.max_length, bundle.info.labels, idx);
    };
    return r;
  }
};

class SolversTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    comm_ = comm::make_communicator("local");
    dir_ = new fathom::testing::TempDir("influence-solvers");
    const std::string corpus = (dir_->path() / "train.jsonl").string();
    fathom::testing::write_sentiment_corpus(corpus, 96, 3);
    model::TrainOptions t;
    t.corpus = corpus;
    t.out_dir = (dir_->path() / "model").string();
    t.embedding_dim = 6;
    t.hidden_dim = 5;
    t.epochs = 3;
    t.lr = 0.05;
    t.batch = 16;
    t.dropout = 0;
    t.seed = 4;
    t.threads = 1;
    model::train_model(t, *comm_);
    p_ = new Problem;
    p_->bundle = model::load_bundle(t.out_dir);
    p_->bundle.model->to(torch::kCPU, torch::kDouble);
    data::CorpusReader reader(corpus, data::CorpusOptions{});
    data::Example e;
    while (reader.next(e)) p_->train.push_back(e);
    p_->layout = grads::ParamLayout::select(*p_->bundle.model, "all");
    std::vector<std::int64_t> all(p_->train.size());
    std::iota(all.begin(), all.end(), 0);
    p_->hessian = explicit_hessian(*p_->bundle.model, p_->layout, p_->rows().make_batch(all));
  }
  static void TearDownTestSuite() {
    delete p_;
    delete dir_;
    comm_.reset();
  }

  // Damping that keeps H + λI well conditioned whatever the curvature.
  static double damping() {
    const double lmin = torch::linalg::eigvalsh(p_->hessian, "L").min().item<double>();
    return std::max(0.0, -lmin) + 0.05;
  }
  static torch::Tensor reference(const torch::Tensor& v, double lambda) {
    const std::int64_t P = p_->hessian.size(0);
    return torch::linalg::solve(p_->hessian + lambda * torch::eye(P, torch::kDouble), v.t(), true).t();
  }
  static torch::Tensor test_vectors() {
    auto gen = at::detail::createCPUGenerator(17);
    return torch::randn({3, p_->layout.dim()}, gen, torch::kDouble);
  }
  static double cosine(const torch::Tensor& a, const torch::Tensor& b) {
    return (a * b).sum().item<double>() / (a.norm().item<double>() * b.norm().item<double>());
  }

  static std::unique_ptr<comm::Communicator> comm_;
  static fathom::testing::TempDir* dir_;
  static Problem* p_;
};
std::unique_ptr<comm::Communicator> SolversTest::comm_;
fathom::testing::TempDir* SolversTest::dir_ = nullptr;
Problem* SolversTest::p_ = nullptr;

TEST_F(SolversTest, FullHvpEqualsExplicitHessian) {
  TrainingHessian h(*p_->bundle.model, p_->layout, p_->rows(), *comm_, 17);  // uneven batches on purpose
  const torch::Tensor v = test_vectors();
  const torch::Tensor got = h.full_hvp(v);
  const torch::Tensor want = v.matmul(p_->hessian.t());
  EXPECT_LT((got - want).abs().max().item<double>(), 1e-9 * (1 + want.abs().max().item<double>()));
  // A mini-batch HVP is the Hessian of those rows only: rows {0,1} counted
  // once and row 2 twice equals the weighted mean of single-row HVPs.
  const torch::Tensor one = h.hvp(v, {0, 1, 2, 2});
  const torch::Tensor parts = (h.hvp(v, {0}) + h.hvp(v, {1}) + 2 * h.hvp(v, {2})) / 4;
  EXPECT_LT((one - parts).abs().max().item<double>(), 1e-10 * (1 + parts.abs().max().item<double>()));
}

TEST_F(SolversTest, ExactAndCgMatchTheExplicitSolve) {
  TrainingHessian h(*p_->bundle.model, p_->layout, p_->rows(), *comm_);
  const double lambda = damping();
  const torch::Tensor v = test_vectors(), want = reference(v, lambda);
  for (const char* name : {"exact", "cg"}) {
    SolverOptions o;
    o.solver = name;
    o.damping = lambda;
    o.tolerance = 1e-10;
    o.max_iterations = 2000;
    auto solver = make_inverse_hvp(o, h);
    const torch::Tensor got = solver->apply(v);
    EXPECT_LT(((got - want).norm() / want.norm()).item<double>(), 1e-6) << name;
  }
}

TEST_F(SolversTest, ArnoldiWithFullRankIsExactAndSavedPairsAreReused) {
  TrainingHessian h(*p_->bundle.model, p_->layout, p_->rows(), *comm_);
  const double lambda = damping();
  const torch::Tensor v = test_vectors(), want = reference(v, lambda);
  SolverOptions o;
  o.solver = "arnoldi";
  o.damping = lambda;
  o.rank = p_->layout.dim();
  o.lanczos_steps = p_->layout.dim();
  o.arnoldi_path = (dir_->path() / "pairs.pt").string();
  o.fingerprint = "test";
  auto solver = make_inverse_hvp(o, h);
  const torch::Tensor got = solver->apply(v);
  EXPECT_GT(cosine(got, want), 0.999);
  EXPECT_LT(((got - want).norm() / want.norm()).item<double>(), 1e-3);
  ASSERT_TRUE(fs::exists(o.arnoldi_path));
  // Reused: same answer, and a file for another fingerprint is refused.
  auto again = make_inverse_hvp(o, h);
  EXPECT_TRUE(torch::allclose(again->apply(v), got));
  EXPECT_NE(again->report_json().find("loaded_from\":\"" + o.arnoldi_path), std::string::npos) << again->report_json();
  o.fingerprint = "another model";
  EXPECT_THROW(make_inverse_hvp(o, h), InputError);
}

TEST_F(SolversTest, LissaConvergesToTheExplicitSolve) {
  TrainingHessian h(*p_->bundle.model, p_->layout, p_->rows(), *comm_);
  const double lambda = damping();
  const torch::Tensor v = test_vectors(), want = reference(v, lambda);
  SolverOptions o;
  o.solver = "lissa";
  o.damping = lambda;
  o.depth = 600;
  o.repeats = 2;
  o.batch = 48;
  auto solver = make_inverse_hvp(o, h);
  const torch::Tensor got = solver->apply(v);
  for (int j = 0; j < 3; ++j) EXPECT_GT(cosine(got[j], want[j]), 0.99) << "vector " << j;
}

TEST_F(SolversTest, DivergentLissaFailsWithTheHint) {
  TrainingHessian h(*p_->bundle.model, p_->layout, p_->rows(), *comm_);
  SolverOptions o;
  o.solver = "lissa";
  o.damping = damping();
  o.depth = 400;
  o.batch = 48;
  o.scale = 1e-3;  // far below λ_max: the recursion blows up
  auto solver = make_inverse_hvp(o, h);
  try {
    solver->apply(test_vectors());
    FAIL() << "a divergent LiSSA returned";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("raise --scale"), std::string::npos) << e.what();
  }
}

TEST_F(SolversTest, ExactRefusesLargeParameterLists) {
  TrainingHessian h(*p_->bundle.model, p_->layout, p_->rows(), *comm_);
  SolverOptions o;
  o.solver = "exact";
  o.max_exact_dim = 10;
  EXPECT_THROW(make_inverse_hvp(o, h), UsageError);
  o.solver = "newton";
  EXPECT_THROW(make_inverse_hvp(o, h), UsageError);
}

}  // namespace
}  // namespace fathom::attrib
