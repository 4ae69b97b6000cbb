// Self-influence and TracIn (self_influence.h) against independent
// computations: the explicit Hessian of the training loss (plain autograd,
// explicit_hessian.h) and one backward per example for gᵀ(H+λI)⁻¹g; a
// brute-force loop over the checkpoints (weights loaded by hand, η_k read
// from state.json) for TracIn's self and query scores; a resumed run against
// a fresh one; flip detection on a synth corpus with planted flips.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "attrib/explicit_hessian.h"
#include "fathom/attrib/score_matrix.h"
#include "fathom/attrib/self_influence.h"
#include "fathom/core/error.h"
#include "fathom/data/synth.h"
#include "selfinf/self_influence_fixture.h"
#include "temp_dir.h"

namespace fathom::attrib {
namespace {

namespace fs = std::filesystem;
using namespace selfinf_testing;

class SelfInfluenceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    comm_ = comm::make_communicator("local");
    dir_ = new fathom::testing::TempDir("self-influence");
    data_ = new SelfInfluenceData(build_self_influence_data(dir_->path() / "data", *comm_));
  }
  static void TearDownTestSuite() {
    delete data_;
    delete dir_;
    comm_.reset();
  }
  static SelfInfluenceOptions options(const std::string& out) {
    SelfInfluenceOptions o;
    o.model_dir = data_->model;
    o.cache = data_->cache;
    o.out = dir_->file(out);
    o.batch = 13;  // uneven blocks on purpose
    o.threads = 1;
    o.progress_period_s = 1e9;
    return o;
  }
  static std::unique_ptr<comm::Communicator> comm_;
  static fathom::testing::TempDir* dir_;
  static SelfInfluenceData* data_;
};
std::unique_ptr<comm::Communicator> SelfInfluenceTest::comm_;
fathom::testing::TempDir* SelfInfluenceTest::dir_ = nullptr;
SelfInfluenceData* SelfInfluenceTest::data_ = nullptr;

// ROC AUC of `scores` for the positives, by counting pairs (ties one half).
double pair_auc(const std::map<std::string, double>& scores, const std::set<std::string>& positive) {
  double wins = 0, pairs = 0;
  for (const auto& [a, sa] : scores)
    for (const auto& [b, sb] : scores)
      if (positive.count(a) && !positive.count(b)) {
        wins += sa > sb ? 1.0 : sa == sb ? 0.5 : 0.0;
        pairs += 1;
      }
  return wins / pairs;
}

TEST_F(SelfInfluenceTest, ExactEqualsExplicitInverseHessian) {
  model::Bundle b = double_bundle(data_->model);
  const auto train = read_examples(data_->train);
  std::vector<std::int64_t> order;
  const grads::ParamLayout layout = grads::ParamLayout::select(*b.model, "all");
  const torch::Tensor H = explicit_hessian(*b.model, layout, batch_of(b, train));
  const std::int64_t P = H.size(0);
  // Damping that keeps H + λI positive definite whatever the curvature.
  const double lambda = std::max(0.0, -torch::linalg::eigvalsh(H, "L").min().item<double>()) + 0.05;
  const torch::Tensor G = plain_gradients(b, train);  // [n, P]
  const torch::Tensor S = torch::linalg::solve(H + lambda * torch::eye(P, torch::kDouble), G.t(), true).t();
  const torch::Tensor want = (G * S).sum(1);

  SelfInfluenceOptions o = options("exact.jsonl");
  o.solver.solver = "exact";
  o.solver.damping = lambda;
  o.corpus = data_->train;
  o.texts = true;
  const SelfInfluenceResult r = self_influence(o, *comm_);
  EXPECT_EQ(r.method, "influence:exact");
  EXPECT_EQ(r.rows, std::int64_t(train.size()));
  EXPECT_EQ(r.dim, P);
  bool ranked = false;
  const auto got = scores_by_id(o.out, &ranked);
  EXPECT_TRUE(ranked) << "lines are not in descending score order with ranks 1..N";
  std::map<std::string, double> reference;
  for (std::size_t i = 0; i < train.size(); ++i) reference[train[i].id] = want[std::int64_t(i)].item<double>();
  EXPECT_LT(worst_relative(got, reference), 1e-5);  // the output keeps 6 significant digits
  const auto lines = fathom::testing::read_jsonl(o.out);
  ASSERT_FALSE(lines.empty());
  EXPECT_TRUE(lines[0].contains("text") && lines[0].contains("label"));
  const auto meta = fathom::testing::read_json(o.out + ".meta.json");
  EXPECT_EQ(meta.at("method"), "influence:exact");
  EXPECT_EQ(meta.at("param_count"), P);
  EXPECT_FALSE(fs::exists(o.out + ".work")) << "the resume state outlived a finished run";

  // The planted flips of this separable corpus stand out (0.83 measured).
  std::set<std::string> flips;
  for (std::size_t i = 0; i < train.size(); ++i)
    if (flipped_row(int(i))) flips.insert(train[i].id);
  EXPECT_GT(pair_auc(got, flips), 0.75);
}

TEST_F(SelfInfluenceTest, ConjugateGradientBlocksEqualExact) {
  // cg's apply is collective: the blocks-of-rows path, against the exact path.
  SelfInfluenceOptions e = options("exact-ref.jsonl"), c = options("cg.jsonl");
  e.solver.solver = "exact";
  c.solver.solver = "cg";
  e.solver.damping = c.solver.damping = 0.5;
  c.solver.tolerance = 1e-12;
  c.batch = 32;
  self_influence(e, *comm_);
  const SelfInfluenceResult r = self_influence(c, *comm_);
  EXPECT_EQ(r.method, "influence:cg");
  EXPECT_LT(worst_relative(scores_by_id(c.out), scores_by_id(e.out)), 1e-5);
}

TEST_F(SelfInfluenceTest, TracinEqualsBruteForceOverCheckpoints) {
  const auto train = read_examples(data_->train);
  const auto queries = read_examples(data_->queries);
  model::Bundle final_model = double_bundle(data_->model);
  const std::vector<std::int64_t> labels = predicted(final_model, queries);
  torch::Tensor self = torch::zeros({std::int64_t(train.size())}, torch::kDouble);
  torch::Tensor cross = torch::zeros({std::int64_t(queries.size()), std::int64_t(train.size())}, torch::kDouble);
  for (std::size_t k = 1; k <= data_->lrs.size(); ++k) {
    const fs::path ck = fs::path(data_->model) / "checkpoints" / ("epoch-" + std::to_string(k));
    const double eta = fathom::testing::read_json((ck / "state.json").string()).at("lr").get<double>();
    model::Bundle b = double_bundle(data_->model, (ck / "weights.pt").string());
    const torch::Tensor G = plain_gradients(b, train), Gq = plain_gradients(b, queries, labels);
    self += eta * (G * G).sum(1);
    cross += eta * Gq.matmul(G.t());
  }

  SelfInfluenceOptions o = options("tracin.jsonl");
  o.tracin = true;
  o.queries = data_->queries;
  o.scores_out = dir_->file("tracin.h5");
  const SelfInfluenceResult r = self_influence(o, *comm_);
  EXPECT_EQ(r.method, "tracin");
  EXPECT_EQ(r.checkpoints, std::int64_t(data_->lrs.size()));
  std::map<std::string, double> reference;
  for (std::size_t i = 0; i < train.size(); ++i) reference[train[i].id] = self[std::int64_t(i)].item<double>();
  EXPECT_LT(worst_relative(scores_by_id(o.out), reference), 1e-5);

  const ScoreMatrix m = read_score_matrix(o.scores_out);
  EXPECT_EQ(m.method, "tracin");
  ASSERT_EQ(m.query_ids.size(), queries.size());
  ASSERT_EQ(m.train_ids.size(), train.size());
  const double scale = cross.abs().max().item<double>();
  double worst = 0;
  for (std::size_t q = 0; q < queries.size(); ++q) {
    EXPECT_EQ(m.query_ids[q], queries[q].id);
    for (std::size_t i = 0; i < train.size(); ++i)
      worst = std::max(worst, std::abs(double(m.at(std::int64_t(q), std::int64_t(i))) -
                                       cross[std::int64_t(q)][std::int64_t(i)].item<double>()));
  }
  EXPECT_LT(worst, 1e-5 * scale);  // float32 matrix
}

TEST_F(SelfInfluenceTest, InterruptedTracinResumesToTheSameOutput) {
  SelfInfluenceOptions fresh = options("fresh.jsonl");
  fresh.tracin = true;
  fresh.queries = data_->queries;
  fresh.scores_out = dir_->file("fresh.h5");
  fresh.resume = false;
  self_influence(fresh, *comm_);

  SelfInfluenceOptions o = fresh;
  o.out = dir_->file("resumed.jsonl");
  o.scores_out = dir_->file("resumed.h5");
  o.resume = true;
  o.checkpoint_every_s = 0;  // save after every block
  // A broken epoch-2 checkpoint stops the run after epoch 1.
  const fs::path weights = fs::path(data_->model) / "checkpoints" / "epoch-2" / "weights.pt";
  const fs::path aside = dir_->path() / "weights-aside.pt";
  fs::copy_file(weights, aside, fs::copy_options::overwrite_existing);
  std::ofstream(weights) << "not weights";
  EXPECT_THROW(self_influence(o, *comm_), Error);
  fs::copy_file(aside, weights, fs::copy_options::overwrite_existing);
  EXPECT_TRUE(fs::exists(o.out + ".work"));
  EXPECT_FALSE(fs::exists(o.out));
  const SelfInfluenceResult r = self_influence(o, *comm_);
  const std::int64_t n = std::int64_t(read_examples(data_->train).size());
  EXPECT_EQ(r.resumed_rows, n) << "epoch 1 (n rows) should come from the resume state";
  EXPECT_EQ(fathom::testing::slurp(o.out), fathom::testing::slurp(fresh.out));
  EXPECT_EQ(read_score_matrix(o.scores_out).scores, read_score_matrix(fresh.scores_out).scores);
}

TEST_F(SelfInfluenceTest, BadOptionsAndMissingCheckpoints) {
  SelfInfluenceOptions o = options("bad.jsonl");
  o.solver.solver = "exact";
  o.queries = data_->queries;
  o.scores_out = dir_->file("bad.h5");
  EXPECT_THROW(self_influence(o, *comm_), UsageError);  // query scores are TracIn's
  o = options("bad.jsonl");
  o.top_fraction = 0;
  EXPECT_THROW(self_influence(o, *comm_), UsageError);
  // A copy of the model without its checkpoints.
  const fs::path copy = dir_->path() / "model-no-checkpoints";
  fs::copy(data_->model, copy, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  fs::remove_all(copy / "checkpoints");
  o = options("bad.jsonl");
  o.model_dir = copy.string();
  o.tracin = true;
  EXPECT_THROW(self_influence(o, *comm_), InputError);
  EXPECT_FALSE(fs::exists(o.out));
}

TEST_F(SelfInfluenceTest, TopFractionWritesTheHighestRows) {
  SelfInfluenceOptions all = options("all.jsonl"), top = options("top.jsonl");
  all.tracin = top.tracin = true;
  top.top_fraction = 0.25;
  self_influence(all, *comm_);
  const SelfInfluenceResult r = self_influence(top, *comm_);
  const auto a = fathom::testing::read_jsonl(all.out), t = fathom::testing::read_jsonl(top.out);
  ASSERT_EQ(std::int64_t(t.size()), (r.rows + 3) / 4);
  EXPECT_EQ(r.written, std::int64_t(t.size()));
  for (std::size_t i = 0; i < t.size(); ++i) EXPECT_EQ(t[i], a[i]);
}

// Planted flips of `fathom synth` (its truth.json) rank high by exact
// self-influence: AUC well above chance (0.72 measured; 0.5 is chance).
TEST(SelfInfluenceSynth, ExactFindsPlantedFlips) {
  auto comm = comm::make_communicator("local");
  fathom::testing::TempDir dir("self-influence-synth");
  data::SynthOptions s;
  s.n = 1000;
  s.seed = 3;
  s.flip_rate = 0.1;
  s.out_dir = dir.file("data");
  const data::SynthSummary summary = data::synthesize(s);
  model::TrainOptions t;
  t.corpus = summary.train.path;
  t.out_dir = dir.file("model");
  t.epochs = 4;
  t.lr = 0.005;
  t.l2_last = 0.001;
  t.seed = 3;
  t.threads = 2;
  model::train_model(t, *comm);
  grads::CacheOptions c;
  c.model_dir = t.out_dir;
  c.corpus = t.corpus;
  c.out = dir.file("cache.h5");
  c.params = "classifier";
  c.threads = 2;
  grads::build_cache(c, *comm);
  SelfInfluenceOptions o;
  o.model_dir = t.out_dir;
  o.cache = c.out;
  o.out = dir.file("self.jsonl");
  o.solver.solver = "exact";
  o.threads = 2;
  self_influence(o, *comm);
  std::set<std::string> flips;
  const auto truth = fathom::testing::read_json(summary.truth_path);  // kept: the loop refers into it
  for (const auto& id : truth.at("flipped"))
    flips.insert(id.is_string() ? id.get<std::string>() : id.at("id").get<std::string>());
  ASSERT_EQ(flips.size(), 100u);
  const double auc = pair_auc(scores_by_id(o.out), flips);
  EXPECT_GT(auc, 0.65);
}

}  // namespace
}  // namespace fathom::attrib
