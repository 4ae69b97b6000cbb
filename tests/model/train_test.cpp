// train_model on one process (local communicator): learning, outputs,
// checkpoints, resume equality, configuration mismatch, option errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/model/bundle.h"
#include "fathom/model/checkpoint.h"
#include "fathom/model/train.h"
#include "model/train_helpers.h"

namespace fs = std::filesystem;
using fathom::model::TrainOptions;
using fathom::testing::ScratchDir;

namespace {

std::unique_ptr<fathom::comm::Communicator> local() { return fathom::comm::make_communicator("local"); }

}  // namespace

TEST(EpochPermutation, IsADeterministicPermutationThatChangesPerEpoch) {
  auto a = fathom::model::epoch_permutation(1000, 7, 1);
  EXPECT_EQ(a, fathom::model::epoch_permutation(1000, 7, 1));
  EXPECT_NE(a, fathom::model::epoch_permutation(1000, 7, 2));
  EXPECT_NE(a, fathom::model::epoch_permutation(1000, 8, 1));
  std::set<std::int64_t> seen(a.begin(), a.end());
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_EQ(*seen.begin(), 0);
  EXPECT_EQ(*seen.rbegin(), 999);
  EXPECT_TRUE(fathom::model::epoch_permutation(0, 1, 1).empty());
  // Pinned values (computed independently from the documented algorithm):
  // the order must not change across platforms or releases, since resumed
  // runs and published experiments depend on it.
  using V = std::vector<std::int64_t>;
  EXPECT_EQ(fathom::model::epoch_permutation(8, 1, 1), (V{1, 0, 4, 2, 5, 7, 3, 6}));
  EXPECT_EQ(fathom::model::epoch_permutation(8, 1, 2), (V{1, 7, 4, 2, 5, 3, 0, 6}));
  EXPECT_EQ(fathom::model::epoch_permutation(8, 2, 1), (V{6, 7, 0, 3, 4, 2, 1, 5}));
}

TEST(Train, BoeLearnsAndWritesBundleMetricsCheckpoints) {
  ScratchDir dir("train-boe");
  TrainOptions o = fathom::testing::small_train_options(dir, "out");
  o.epochs = 4;
  auto comm = local();
  auto r = fathom::model::train_model(o, *comm);

  ASSERT_EQ(r.epochs.size(), 4u);
  EXPECT_LT(r.epochs.back().train_loss, r.epochs.front().train_loss);
  ASSERT_TRUE(r.dev_accuracy);
  EXPECT_GE(*r.dev_accuracy, 0.9);
  EXPECT_GT(r.examples_per_s, 0);
  EXPECT_EQ(r.resumed_from, 0);
  EXPECT_EQ(r.train_examples, 240);
  for (const auto& m : r.epochs) {
    EXPECT_DOUBLE_EQ(m.lr, 0.02);
    ASSERT_TRUE(m.dev_loss);
  }

  for (const char* f : {"fathom.json", "weights.pt", "vocab.txt", "labels.txt", "metrics.jsonl"})
    EXPECT_TRUE(fs::exists(fs::path(o.out_dir) / f)) << f;
  EXPECT_EQ(fathom::testing::slurp(fs::path(o.out_dir) / "labels.txt"), "neg\npos\n");
  std::ifstream metrics(fs::path(o.out_dir) / "metrics.jsonl");
  std::string line;
  int lines = 0;
  while (std::getline(metrics, line)) {
    auto m = fathom::model::epoch_metrics_from_json(line, "metrics.jsonl");
    EXPECT_EQ(m.epoch, ++lines);
    EXPECT_DOUBLE_EQ(m.train_loss, r.epochs[std::size_t(lines - 1)].train_loss);
  }
  EXPECT_EQ(lines, 4);

  auto checkpoints = fathom::model::list_checkpoints(o.out_dir);
  ASSERT_EQ(checkpoints.size(), 4u);
  for (std::size_t k = 0; k < 4; ++k) {
    EXPECT_EQ(checkpoints[k].epoch, std::int64_t(k + 1));
    EXPECT_DOUBLE_EQ(checkpoints[k].lr, 0.02);
    EXPECT_TRUE(fs::exists(checkpoints[k].weights));
    EXPECT_EQ(checkpoints[k].config_hash, checkpoints[0].config_hash);
  }
  // The bundle holds the final weights, which are those of the last checkpoint.
  auto bundle = fathom::model::load_bundle(o.out_dir);
  auto final_weights = bundle.model->named_parameters();
  bundle.model->load_weights(checkpoints.back().weights);
  auto ckpt_weights = bundle.model->named_parameters();
  for (std::size_t i = 0; i < final_weights.size(); ++i)
    EXPECT_TRUE(final_weights[i].second.equal(ckpt_weights[i].second)) << final_weights[i].first;
}

TEST(Train, ResumeAfterInterruptionEqualsUninterruptedRun) {
  ScratchDir dir("train-resume");
  auto comm = local();
  TrainOptions full = fathom::testing::small_train_options(dir, "full");
  full.dropout = 0.2;  // resume must also reproduce the dropout masks
  fathom::model::train_model(full, *comm);

  TrainOptions part = full;
  part.out_dir = dir / "part";
  part.epochs = 2;
  fathom::model::train_model(part, *comm);
  // What a kill during epoch 3 leaves behind: a half-written checkpoint
  // directory and nothing else of epoch 3.
  fs::create_directories(fs::path(part.out_dir) / "checkpoints" / ".epoch-3.tmp.99999");
  std::ofstream(fs::path(part.out_dir) / "checkpoints" / ".epoch-3.tmp.99999" / "weights.pt") << "garbage";

  part.epochs = 3;
  auto r = fathom::model::train_model(part, *comm);
  EXPECT_EQ(r.resumed_from, 2);
  ASSERT_EQ(r.epochs.size(), 3u);
  EXPECT_FALSE(fs::exists(fs::path(part.out_dir) / "checkpoints" / ".epoch-3.tmp.99999"));
  EXPECT_LE(fathom::testing::max_weight_difference(full.out_dir, part.out_dir), 1e-6);
  EXPECT_EQ(fathom::model::list_checkpoints(part.out_dir).size(), 3u);

  // Nothing left to do: the rerun only rewrites the bundle.
  auto again = fathom::model::train_model(part, *comm);
  EXPECT_EQ(again.resumed_from, 3);
  EXPECT_EQ(again.epochs.size(), 3u);
  EXPECT_EQ(fathom::testing::max_weight_difference(full.out_dir, part.out_dir), 0.0);
}

TEST(Train, CheckpointsOfAnotherConfigurationAreRefused) {
  ScratchDir dir("train-mismatch");
  auto comm = local();
  TrainOptions o = fathom::testing::small_train_options(dir, "out");
  o.epochs = 1;
  fathom::model::train_model(o, *comm);

  TrainOptions changed = o;
  changed.lr = 0.05;
  try {
    fathom::model::train_model(changed, *comm);
    FAIL() << "expected UsageError";
  } catch (const fathom::UsageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("lr was 0.02, now 0.05"), std::string::npos) << what;
    EXPECT_NE(what.find("--no-resume"), std::string::npos) << what;
  }
  // An edited corpus is a different configuration too.
  fathom::testing::write_sentiment_corpus(o.corpus, 240, 3);
  try {
    fathom::model::train_model(o, *comm);
    FAIL() << "expected UsageError";
  } catch (const fathom::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("corpus_sha256"), std::string::npos) << e.what();
  }
  // resume = false (--no-resume) starts over.
  changed.resume = false;
  auto r = fathom::model::train_model(changed, *comm);
  EXPECT_EQ(r.resumed_from, 0);
  auto checkpoints = fathom::model::list_checkpoints(o.out_dir);
  ASSERT_EQ(checkpoints.size(), 1u);
  EXPECT_DOUBLE_EQ(checkpoints[0].lr, 0.05);
}

TEST(Train, L2LastShrinksTheClassifierOnly) {
  ScratchDir dir("train-l2");
  auto comm = local();
  TrainOptions plain = fathom::testing::small_train_options(dir, "plain");
  plain.epochs = 2;
  plain.dropout = 0;
  TrainOptions l2 = plain;
  l2.out_dir = dir / "l2";
  l2.l2_last = 0.5;
  fathom::model::train_model(plain, *comm);
  fathom::model::train_model(l2, *comm);
  auto norm = [](const std::string& bundle, const std::string& name) {
    for (auto& [n, p] : fathom::model::load_bundle(bundle).model->named_parameters())
      if (n == name) return p.norm().item<double>();
    ADD_FAILURE() << bundle << " has no parameter " << name;
    return 0.0;
  };
  const double plain_norm = norm(plain.out_dir, "classifier.weight");
  EXPECT_GT(plain_norm, 0.0);
  EXPECT_LT(norm(l2.out_dir, "classifier.weight"), 0.5 * plain_norm);
}

namespace {

// Share of the most frequent label in a corpus file, counted from its text
// (independent of the corpus reader): the accuracy of always guessing it.
double majority_rate(const std::string& path) {
  std::ifstream in(path);
  std::int64_t pos = 0, neg = 0;
  for (std::string line; std::getline(in, line);) {
    pos += line.find("\"label\":\"pos\"") != std::string::npos;
    neg += line.find("\"label\":\"neg\"") != std::string::npos;
  }
  return pos + neg == 0 ? 1.0 : double(std::max(pos, neg)) / double(pos + neg);
}

// Each must learn: the training loss falls from the first epoch to the last
// and dev accuracy beats always guessing the majority class.
void expect_learns(const fathom::model::TrainResult& r, const TrainOptions& o, const std::string& what) {
  ASSERT_GE(r.epochs.size(), 2u) << what;
  EXPECT_TRUE(std::isfinite(r.epochs.back().train_loss)) << what;
  EXPECT_LT(r.epochs.back().train_loss, r.epochs.front().train_loss) << what;
  ASSERT_TRUE(r.dev_accuracy) << what;
  const double majority = majority_rate(o.dev);
  ASSERT_LT(majority, 0.9) << "the dev corpus must hold both labels";
  EXPECT_GT(*r.dev_accuracy, majority + 0.1) << what << ": majority class rate " << majority;
}

}  // namespace

TEST(Train, OtherArchitecturesAndSgdTrain) {
  ScratchDir dir("train-arch");
  auto comm = local();
  for (const char* arch : {"bilstm", "transformer"}) {
    TrainOptions o = fathom::testing::small_train_options(dir, arch);
    o.arch = arch;
    o.epochs = 8;
    o.heads = 2;
    o.ff_dim = 32;
    o.max_length = 16;
    auto r = fathom::model::train_model(o, *comm);
    ASSERT_EQ(r.epochs.size(), 8u) << arch;
    expect_learns(r, o, arch);
    EXPECT_EQ(fathom::model::load_bundle(o.out_dir).model->architecture(), arch);
  }
  TrainOptions sgd = fathom::testing::small_train_options(dir, "sgd");
  sgd.optimizer = "sgd";
  sgd.lr = 0.5;
  sgd.epochs = 6;
  auto r = fathom::model::train_model(sgd, *comm);
  expect_learns(r, sgd, "sgd");
}

TEST(Train, BadOptionsAndInputsAreUserErrors) {
  ScratchDir dir("train-bad");
  auto comm = local();
  TrainOptions o = fathom::testing::small_train_options(dir, "out");
  auto expect_usage = [&](TrainOptions bad, const std::string& needle) {
    try {
      fathom::model::train_model(bad, *comm);
      ADD_FAILURE() << "expected an error mentioning " << needle;
    } catch (const fathom::Error& e) {
      EXPECT_EQ(fathom::exit_code_for(e), 2) << e.what();
      EXPECT_NE(fathom::describe(e).find(needle), std::string::npos) << fathom::describe(e);
    }
  };
  TrainOptions bad = o;
  bad.optimizer = "adagrad";
  expect_usage(bad, "adagrad");
  bad = o;
  bad.epochs = 0;
  expect_usage(bad, "--epochs");
  bad = o;
  bad.arch = "cnn";
  expect_usage(bad, "cnn");
  bad = o;
  bad.labels = {"pos"};
  expect_usage(bad, "--labels");
  bad = o;
  bad.labels = {"pos", "meh"};  // the corpus has "neg"
  expect_usage(bad, "neg");
  bad = o;
  bad.corpus = dir / "missing.jsonl";
  expect_usage(bad, "missing.jsonl");
  // A dev label the model cannot predict names the dev file.
  fathom::testing::write_sentiment_corpus(dir / "odd.jsonl", 30, 4, true, true);
  bad = o;
  bad.dev = dir / "odd.jsonl";
  expect_usage(bad, "odd.jsonl");
}
