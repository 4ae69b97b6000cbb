// `fathom lds`: statistics against hand-computed values, subsets, head
// refits against autograd, leave-one-out against the exact influence from an
// explicit Hessian, LDS of an oracle and of random scores, and lds() on a
// tiny model (output, resume, errors, full retraining).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "fathom/core/error.h"
#include "lds/lds_fixture.h"
#include "test_files.h"

namespace {

namespace attrib = fathom::attrib;
namespace stats = fathom::attrib::stats;
using namespace fathom::attrib::lds_testing;

std::unique_ptr<fathom::comm::Communicator> local() { return fathom::comm::make_communicator("local"); }

TEST(LdsStats, AverageRanksWithTies) {
  EXPECT_EQ(stats::average_ranks({3.0, 1.0, 2.0, 1.0, 3.0, 3.0}),
            (std::vector<double>{5.0, 1.5, 3.0, 1.5, 5.0, 5.0}));
}

TEST(LdsStats, SpearmanWithTiesByHand) {
  // ranks a: 1, 2.5, 2.5, 4; ranks b: 1, 3, 2, 4. Centred: (-1.5, 0, 0, 1.5),
  // (-1.5, .5, -.5, 1.5): sab = 4.5, saa = 4.5, sbb = 5 -> 4.5/sqrt(22.5) = 3/sqrt(10).
  const auto r = stats::spearman({10, 20, 20, 30}, {-5, 7, 0, 8});
  ASSERT_TRUE(r);
  EXPECT_NEAR(*r, 3.0 / std::sqrt(10.0), 1e-15);
  EXPECT_NEAR(*stats::spearman({1, 2, 3}, {30, 20, 10}), -1.0, 1e-15);
  EXPECT_FALSE(stats::spearman({1, 2, 3}, {4, 4, 4}));
  EXPECT_FALSE(stats::pearson({1}, {2}));
  EXPECT_THROW(stats::spearman({1, 2}, {1, 2, 3}), fathom::UsageError);
  // Pearson by hand: (1,2,3) vs (1,3,2): sab = 1*... = 0.5*... -> 0.5.
  EXPECT_NEAR(*stats::pearson({1, 2, 3}, {1, 3, 2}), 0.5, 1e-15);
}

TEST(LdsStats, BootstrapInterval) {
  const auto same = stats::bootstrap_mean_interval({0.4, 0.4, 0.4}, 50, 1);
  EXPECT_DOUBLE_EQ(same.low, 0.4);
  EXPECT_DOUBLE_EQ(same.high, 0.4);
  std::vector<double> v;
  for (int i = 0; i < 40; ++i) v.push_back(i % 2 ? 1.0 : 0.0);
  const auto ci = stats::bootstrap_mean_interval(v, 2000, 7);
  EXPECT_LT(ci.low, 0.5);
  EXPECT_GT(ci.high, 0.5);
  // Standard error 0.5/sqrt(40) = 0.079: the 95% interval is about ±0.155.
  EXPECT_NEAR(ci.high - ci.low, 2 * 1.96 * 0.5 / std::sqrt(40.0), 0.06);
  const auto again = stats::bootstrap_mean_interval(v, 2000, 7);
  EXPECT_EQ(ci.low, again.low);
  EXPECT_THROW(stats::bootstrap_mean_interval({}, 10, 1), fathom::UsageError);
}

TEST(LdsSubsets, SeededSortedDistinct) {
  const auto a = attrib::draw_subset(101, 0.5, 3, 0);
  EXPECT_EQ(a.size(), 51u);  // round(50.5) away from zero
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_EQ(std::set<std::int64_t>(a.begin(), a.end()).size(), a.size());
  EXPECT_GE(a.front(), 0);
  EXPECT_LT(a.back(), 101);
  EXPECT_EQ(a, attrib::draw_subset(101, 0.5, 3, 0));
  EXPECT_NE(a, attrib::draw_subset(101, 0.5, 3, 1));
  EXPECT_NE(a, attrib::draw_subset(101, 0.5, 4, 0));
  EXPECT_THROW(attrib::subset_size(10, 0.01), fathom::UsageError);
  EXPECT_THROW(attrib::subset_size(10, 1.0), fathom::UsageError);
}

TEST(LdsValues, NegLossAndMarginByHand) {
  attrib::Head h = zero_head(3, 1);
  h.weight = {1.0, 0.0, -1.0};
  h.bias = {0.0, 0.5, 0.0};
  // f = 2: z = (2, 0.5, -2); target 1.
  const auto v = attrib::values_at_head(h, {2.0f}, {1});
  const double lse = std::log(std::exp(2.0) + std::exp(0.5) + std::exp(-2.0));
  EXPECT_NEAR(v.neg_loss[0], 0.5 - lse, 1e-12);
  EXPECT_NEAR(v.margin[0], 0.5 - std::log(std::exp(2.0) + std::exp(-2.0)), 1e-12);
  EXPECT_THROW(attrib::values_at_head(h, {2.0f}, {3}), fathom::UsageError);
}

TEST(LdsJobs, KnownJobsAreNotRerunAndOrderIsKept) {
  auto comm = local();
  std::vector<std::vector<double>> known(5);
  known[1] = {10, 11};
  known[3] = {30, 31};
  std::vector<std::int64_t> ran;
  const auto out = attrib::run_jobs(
      5, 2, known,
      [&](std::int64_t m) {
        ran.push_back(m);
        return std::vector<double>{double(m), -double(m)};
      },
      nullptr, *comm);
  EXPECT_EQ(ran, (std::vector<std::int64_t>{0, 2, 4}));
  EXPECT_EQ(out, (std::vector<double>{0, -0.0, 10, 11, 2, -2, 30, 31, 4, -4}));
  EXPECT_THROW(attrib::run_jobs(
                   2, 1, {}, [](std::int64_t) { return std::vector<double>{1, 2}; }, nullptr, *comm),
               fathom::Error);
}

// The convex problem shared below: 3 classes, λ = 0.01.
struct Convex : ::testing::Test {
  static constexpr std::int64_t kN = 48, kQ = 4, kH = 4, kC = 3;
  ConvexData d = make_convex_data(kN, kQ, kH, kC, 0.01, 11);
  attrib::FitOptions tight() const {
    attrib::FitOptions f;
    f.tolerance = 1e-11;
    f.max_iterations = 5000;
    return f;
  }
  std::vector<std::int64_t> all() const {
    std::vector<std::int64_t> r(kN);
    std::iota(r.begin(), r.end(), 0);
    return r;
  }
};

TEST_F(Convex, RefitReachesTheOptimumByAutograd) {
  const auto rows = attrib::draw_subset(kN, 0.5, 1, 0);
  const auto fit = attrib::refit_head(d.train, rows, zero_head(kC, kH), tight());
  EXPECT_LT(autograd_gradient_norm(d.train, rows, fit.head), 1e-9);
  // ... and not the optimum of all the rows.
  EXPECT_GT(autograd_gradient_norm(d.train, all(), fit.head), 1e-3);
  EXPECT_THROW(attrib::refit_head(d.train, {}, zero_head(kC, kH), tight()), fathom::UsageError);
  EXPECT_THROW(attrib::refit_head(d.train, {kN}, zero_head(kC, kH), tight()), fathom::UsageError);
}

// Actual loss change of every query when each training row is left out
// [Q, N], and the full head.
torch::Tensor leave_one_out(const Convex& c, const attrib::Head& full, const std::vector<std::int64_t>& targets) {
  const auto base = attrib::values_at_head(full, c.d.query_features, targets);
  torch::Tensor actual = torch::zeros({Convex::kQ, Convex::kN}, torch::kDouble);
  for (std::int64_t i = 0; i < Convex::kN; ++i) {
    std::vector<std::int64_t> rest;
    for (std::int64_t j = 0; j < Convex::kN; ++j)
      if (j != i) rest.push_back(j);
    const auto fit = attrib::refit_head(c.d.train, rest, full, c.tight());
    const auto v = attrib::values_at_head(fit.head, c.d.query_features, targets);
    for (std::int64_t q = 0; q < Convex::kQ; ++q) actual[q][i] = base.neg_loss[std::size_t(q)] - v.neg_loss[std::size_t(q)];
  }
  return actual;
}

std::vector<double> row(const torch::Tensor& m, std::int64_t q) {
  const torch::Tensor r = m[q].to(torch::kDouble).contiguous();
  return std::vector<double>(r.data_ptr<double>(), r.data_ptr<double>() + r.numel());
}

TEST_F(Convex, LeaveOneOutMatchesExactInfluence) {
  const auto full = attrib::refit_head(d.train, all(), zero_head(kC, kH), tight());
  ASSERT_TRUE(full.converged) << full.stop_reason << " " << full.gradient_norm;
  const auto predicted = exact_influence(d, full.head, d.query_labels);
  const auto actual = leave_one_out(*this, full.head, d.query_labels);
  for (std::int64_t q = 0; q < kQ; ++q) {
    const auto r = stats::pearson(row(predicted, q), row(actual, q));
    ASSERT_TRUE(r);
    EXPECT_GE(*r, 0.9) << "query " << q;
    RecordProperty("loo_pearson_q" + std::to_string(q), std::to_string(*r));
  }
}

// LDS on subsets with head retraining, as lds() computes it, for score
// matrices given here.
attrib::LdsStatistics subset_lds(const Convex& c, const attrib::Head& full, const std::vector<std::int64_t>& targets,
                                 const torch::Tensor& scores, std::int64_t m_count) {
  auto comm = local();
  std::vector<std::vector<std::int64_t>> subsets;
  for (std::int64_t m = 0; m < m_count; ++m) subsets.push_back(attrib::draw_subset(Convex::kN, 0.5, 5, m));
  attrib::FitOptions f;
  f.tolerance = 1e-8;
  const auto results = attrib::run_jobs(
      m_count, Convex::kQ, {},
      [&](std::int64_t m) {
        const auto fit = attrib::refit_head(c.d.train, subsets[std::size_t(m)], full, f);
        return attrib::values_at_head(fit.head, c.d.query_features, targets).neg_loss;
      },
      nullptr, *comm);
  const torch::Tensor s = scores.to(torch::kFloat).contiguous();
  return attrib::lds_statistics(results, std::vector<float>(s.data_ptr<float>(), s.data_ptr<float>() + s.numel()),
                                Convex::kQ, Convex::kN, subsets, 500, 1);
}

TEST_F(Convex, OracleScoresGiveHighLdsRandomScoresNearZero) {
  const auto full = attrib::refit_head(d.train, all(), zero_head(kC, kH), tight());
  const auto oracle = leave_one_out(*this, full.head, d.query_labels);
  const auto exact = exact_influence(d, full.head, d.query_labels);
  const auto good = subset_lds(*this, full.head, d.query_labels, oracle, 40);
  ASSERT_TRUE(good.mean);
  EXPECT_GE(*good.mean, 0.7);
  EXPECT_LE(good.interval.low, *good.mean);
  EXPECT_GE(good.interval.high, *good.mean);
  const auto influence = subset_lds(*this, full.head, d.query_labels, exact, 40);
  EXPECT_GE(*influence.mean, 0.7);
  // The wrong sign is as bad as the oracle is good.
  const auto flipped = subset_lds(*this, full.head, d.query_labels, -oracle, 40);
  EXPECT_NEAR(*flipped.mean, -*good.mean, 1e-12);
  // Random scores: each Spearman has standard error ~1/sqrt(39), the mean of
  // 4 queries ~0.08, averaged over 5 draws ~0.036.
  double random_mean = 0;
  for (int s = 0; s < 5; ++s) {
    torch::manual_seed(100 + s);
    random_mean += *subset_lds(*this, full.head, d.query_labels, torch::randn({kQ, kN}, torch::kDouble), 40).mean / 5;
  }
  EXPECT_LT(std::abs(random_mean), 0.15);
  RecordProperty("lds_oracle", std::to_string(*good.mean));
  RecordProperty("lds_exact_influence", std::to_string(*influence.mean));
  RecordProperty("lds_random", std::to_string(random_mean));
  std::printf("LDS oracle %.4f, exact influence %.4f, random %.4f\n", *good.mean, *influence.mean, random_mean);
}

// ---- lds() on a tiny model ----

class LdsModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto comm = local();
    data_ = new ModelData(build_model_data(
        fs::temp_directory_path() / ("fathom-lds-test-" + std::to_string(::getpid())), *comm));
  }
  static void TearDownTestSuite() {
    fs::remove_all(data_->dir);
    delete data_;
  }
  static ModelData* data_;
};
ModelData* LdsModel::data_ = nullptr;

TEST_F(LdsModel, WritesLdsJsonAndResumes) {
  auto comm = local();
  auto o = model_options(*data_, (data_->dir / "lds.json").string());
  const auto r = attrib::lds(o, *comm);
  EXPECT_EQ(r.queries, 8);
  EXPECT_EQ(r.train_rows, 60);
  EXPECT_EQ(r.subset_size, 30);
  EXPECT_EQ(r.resumed_subsets, 0);
  EXPECT_EQ(r.lambda_source, "training --l2-last");
  EXPECT_DOUBLE_EQ(r.lambda, 0.01);
  EXPECT_EQ(r.unconverged_fits, 0);
  const auto j = fathom::testing::read_json(o.out);
  EXPECT_EQ(j["format"], "fathom-lds");
  EXPECT_EQ(j["settings"]["subsets"], 6);
  EXPECT_EQ(j["per_query"].size(), 8u);
  EXPECT_EQ(j["per_query"][0]["actual"].size(), 6u);
  EXPECT_EQ(j["lds"]["defined"], r.lds.defined);
  EXPECT_TRUE(j["lds"]["mean"].is_number());
  ASSERT_TRUE(j.contains("loo"));
  EXPECT_EQ(j["loo"]["per_query"][0]["pairs"].size(), 4u);  // 2 proponents + 2 opponents
  EXPECT_EQ(j["loo"]["pairs"], 32);
  for (const char* t : {"features_s", "retrain_s", "loo_s", "total_s"}) EXPECT_TRUE(j["timings"][t].is_number()) << t;

  // Rerun: every retraining is found in <out>.work, the result is the same;
  // another measure reuses them too.
  const auto again = attrib::lds(o, *comm);
  EXPECT_EQ(again.resumed_subsets, 6);
  EXPECT_EQ(*again.lds.mean, *r.lds.mean);
  o.measure = "margin";
  const auto margin = attrib::lds(o, *comm);
  EXPECT_EQ(margin.resumed_subsets, 6);
  // Another seed draws other subsets: nothing reused.
  o.seed = 99;
  EXPECT_EQ(attrib::lds(o, *comm).resumed_subsets, 0);
}

TEST_F(LdsModel, FullRetraining) {
  auto comm = local();
  auto o = model_options(*data_, (data_->dir / "full.json").string());
  o.retrain = "full";
  o.subsets = 2;
  o.loo = 0;
  const auto r = attrib::lds(o, *comm);
  const auto j = fathom::testing::read_json(o.out);
  EXPECT_EQ(j["settings"]["retrain"], "full");
  // Two subsets: every defined Spearman is ±1.
  for (const auto& q : j["per_query"])
    if (q["spearman"].is_number()) EXPECT_NEAR(std::abs(q["spearman"].get<double>()), 1.0, 1e-12);
  // Actual values differ between the two retrained models.
  EXPECT_NE(j["per_query"][0]["actual"][0], j["per_query"][0]["actual"][1]);
  EXPECT_EQ(r.resumed_subsets, 0);
}

TEST_F(LdsModel, ErrorsBeforeWriting) {
  auto comm = local();
  auto o = model_options(*data_, (data_->dir / "bad.json").string());
  o.fraction = 1.5;
  EXPECT_THROW(attrib::lds(o, *comm), fathom::UsageError);
  o = model_options(*data_, (data_->dir / "bad.json").string());
  o.retrain = "partial";
  EXPECT_THROW(attrib::lds(o, *comm), fathom::UsageError);
  // Scores naming a training id the corpus does not have.
  attrib::ScoreMatrix m;
  m.query_ids = data_->query_ids;
  m.train_ids = data_->train_ids;
  m.train_ids[3] = "nowhere";
  m.scores.assign(m.query_ids.size() * m.train_ids.size(), 0.0f);
  const std::string other = (data_->dir / "other.h5").string();
  attrib::write_score_matrix(other, m);
  o = model_options(*data_, (data_->dir / "bad.json").string());
  o.scores = other;
  try {
    attrib::lds(o, *comm);
    ADD_FAILURE() << "no error";
  } catch (const fathom::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("nowhere"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(o.out));
}

}  // namespace
