// predict on one process: output order, format, accuracy, summary.
#include <gtest/gtest.h>

#include <sstream>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/model/predict.h"
#include "fathom/model/train.h"
#include "model/train_helpers.h"

namespace fs = std::filesystem;
using fathom::testing::ScratchDir;

namespace {

// Trains a small boe bundle in dir/model (no dev evaluation, 4 epochs).
std::string train_small(const ScratchDir& dir, fathom::comm::Communicator& comm) {
  fathom::model::TrainOptions o = fathom::testing::small_train_options(dir, "model");
  o.dev.clear();
  o.epochs = 4;
  fathom::model::train_model(o, comm);
  return o.out_dir;
}

std::vector<nlohmann::json> read_lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

}  // namespace

TEST(Predict, WritesEveryExampleInOrderWithAccuracy) {
  ScratchDir dir("predict");
  auto comm = fathom::comm::make_communicator("local");
  const std::string model = train_small(dir, *comm);
  fathom::testing::write_sentiment_corpus(dir / "test.jsonl", 50, 9);

  fathom::model::PredictOptions o;
  o.model_dir = model;
  o.corpus = dir / "test.jsonl";
  o.out = dir / "out/preds.jsonl";  // the parent directory is created
  o.batch = 7;                      // last batch partial
  o.threads = 1;
  auto r = fathom::model::predict(o, *comm);
  EXPECT_EQ(r.n, 50);
  EXPECT_EQ(r.n_gold, 50);
  ASSERT_TRUE(r.accuracy);
  EXPECT_GE(*r.accuracy, 0.9);
  EXPECT_GT(r.examples_per_s, 0);

  auto lines = read_lines(o.out);
  ASSERT_EQ(lines.size(), 50u);
  int correct = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto& l = lines[i];
    EXPECT_EQ(l["id"], "ex" + std::to_string(i));
    ASSERT_TRUE(l["probs"].is_object());
    // Keys in label order, probabilities summing to 1 (6 significant digits).
    auto it = l["probs"].begin();
    EXPECT_EQ(it.key(), "neg");
    double sum = 0, best = -1;
    std::string argmax;
    for (auto& [label, p] : l["probs"].items()) {
      sum += p.get<double>();
      if (p.get<double>() > best) best = p.get<double>(), argmax = label;
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);
    EXPECT_EQ(l["label"], argmax);
    correct += l["label"] == l["gold"];
  }
  EXPECT_DOUBLE_EQ(*r.accuracy, correct / 50.0);

  auto summary = nlohmann::json::parse(fathom::testing::slurp(o.out + ".summary.json"));
  EXPECT_EQ(summary["format"], "fathom-predict-summary");
  EXPECT_EQ(summary["n"], 50);
  EXPECT_DOUBLE_EQ(summary["accuracy"].get<double>(), *r.accuracy);
  EXPECT_EQ(summary["labels"], nlohmann::json::array({"neg", "pos"}));

  // The same corpus in one batch gives the same predictions: ids, labels and
  // gold identical, probabilities equal up to float rounding (an optimised
  // BLAS may round differently for another batch shape, which can flip the
  // 6th printed digit).
  fathom::model::PredictOptions big = o;
  big.out = dir / "big.jsonl";
  big.batch = 64;
  fathom::model::predict(big, *comm);
  std::istringstream small_lines(fathom::testing::slurp(o.out)), big_lines(fathom::testing::slurp(big.out));
  std::string a, b;
  int compared = 0;
  while (std::getline(small_lines, a)) {
    ASSERT_TRUE(std::getline(big_lines, b)) << "big batch output has fewer lines";
    const auto ja = nlohmann::json::parse(a), jb = nlohmann::json::parse(b);
    EXPECT_EQ(ja["id"], jb["id"]);
    EXPECT_EQ(ja["label"], jb["label"]);
    EXPECT_EQ(ja["gold"], jb["gold"]);
    for (auto& [label, p] : ja["probs"].items()) EXPECT_NEAR(p.get<double>(), jb["probs"][label].get<double>(), 1e-5);
    ++compared;
  }
  EXPECT_FALSE(std::getline(big_lines, b)) << "big batch output has more lines";
  EXPECT_EQ(compared, 50);
}

TEST(Predict, UnlabelledAndUnknownGoldLabels) {
  ScratchDir dir("predict-gold");
  auto comm = fathom::comm::make_communicator("local");
  const std::string model = train_small(dir, *comm);

  fathom::model::PredictOptions o;
  o.model_dir = model;
  o.threads = 1;
  fathom::testing::write_sentiment_corpus(dir / "plain.jsonl", 10, 5, /*with_labels=*/false);
  o.corpus = dir / "plain.jsonl";
  o.out = dir / "plain.preds.jsonl";
  auto r = fathom::model::predict(o, *comm);
  EXPECT_EQ(r.n, 10);
  EXPECT_EQ(r.n_gold, 0);
  EXPECT_FALSE(r.accuracy);
  const auto plain = read_lines(o.out);
  ASSERT_EQ(plain.size(), 10u);
  for (const auto& l : plain) EXPECT_TRUE(l["gold"].is_null());
  EXPECT_TRUE(nlohmann::json::parse(fathom::testing::slurp(o.out + ".summary.json"))["accuracy"].is_null());

  // A gold label the model does not know is a wrong prediction, not an error.
  fathom::testing::write_sentiment_corpus(dir / "odd.jsonl", 21, 6, true, true);
  o.corpus = dir / "odd.jsonl";
  o.out = dir / "odd.preds.jsonl";
  r = fathom::model::predict(o, *comm);
  EXPECT_EQ(r.n_gold, 21);
  ASSERT_TRUE(r.accuracy);
  const auto odd = read_lines(o.out);
  ASSERT_EQ(odd.size(), 21u);
  int correct = 0, unknown = 0;
  for (const auto& l : odd) {
    correct += l["label"] == l["gold"];
    if (l["gold"] == "unknown") {
      ++unknown;
      EXPECT_NE(l["label"], "unknown");  // never predicted: not one of the model's labels
    }
  }
  EXPECT_EQ(unknown, 3);
  EXPECT_DOUBLE_EQ(*r.accuracy, correct / 21.0);  // the 3 "unknown" golds count as wrong
  EXPECT_LE(*r.accuracy, 18.0 / 21.0);
}

TEST(Predict, BadOptionsAreUsageErrors) {
  auto comm = fathom::comm::make_communicator("local");
  fathom::model::PredictOptions o;
  EXPECT_THROW(fathom::model::predict(o, *comm), fathom::UsageError);
  o.model_dir = "/nonexistent/model";
  o.corpus = "/nonexistent/corpus.jsonl";
  o.out = "/tmp/x.jsonl";
  o.batch = 0;
  EXPECT_THROW(fathom::model::predict(o, *comm), fathom::UsageError);
  o.batch = 4;
  try {
    fathom::model::predict(o, *comm);
    FAIL() << "expected an input error";
  } catch (const std::exception& e) {
    EXPECT_EQ(fathom::exit_code_for(e), 2) << fathom::describe(e);
    EXPECT_NE(fathom::describe(e).find("/nonexistent/model"), std::string::npos) << fathom::describe(e);
  }
}
