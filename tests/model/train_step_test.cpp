// The training step and evaluation (train_internal.h) with unlabelled rows:
// a row labelled data::kNoLabel adds no loss, no gradient and no count, so a
// batch with it gives exactly what the batch without it gives.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fathom/comm/communicator.h"
#include "fathom/data/example.h"
#include "fathom/data/word_tokenizer.h"
#include "fathom/model/builtin.h"
#include "model/builtin_fixtures.h"
#include "train_internal.h"

namespace fathom::model {
namespace {

std::vector<torch::Tensor> parameters_of(Model& m) {
  std::vector<torch::Tensor> out;
  for (auto& [name, t] : m.named_parameters()) out.push_back(t);
  return out;
}

torch::Tensor classifier_weight(Model& m) {
  for (auto& [name, t] : m.named_parameters())
    if (name == "classifier.weight") return t;
  return {};
}

// Rows `keep` of `b` (same padded width).
Batch rows_of(const Batch& b, const std::vector<std::int64_t>& keep) {
  auto index = torch::tensor(keep, torch::kLong);
  Batch out;
  out.ids = b.ids.index_select(0, index);
  out.mask = b.mask.index_select(0, index);
  out.type_ids = b.type_ids.index_select(0, index);
  out.labels = b.labels.index_select(0, index);
  for (auto r : keep) out.rows.push_back(b.rows[std::size_t(r)]);
  return out;
}

struct StepResult {
  double loss_sum = 0;
  std::int64_t correct = 0;
  std::vector<torch::Tensor> grads;
};

StepResult step(Model& m, const Batch& b, std::int64_t labelled, comm::Communicator& comm) {
  GradientReducer reducer(parameters_of(m), classifier_weight(m), /*l2_last=*/0.0);
  auto stats = reducer.compute(m, b, labelled, comm);
  StepResult r{stats.loss_sum, stats.correct, {}};
  for (auto& p : parameters_of(m)) r.grads.push_back(p.grad().detach().clone());
  return r;
}

TEST(GradientReducer, AnUnlabelledRowAddsNoLossAndNoGradient) {
  auto comm = comm::make_communicator("local");
  for (const std::string arch : {"boe", "transformer"}) {
    SCOPED_TRACE(arch);
    auto m = make_builtin(testing::tiny_config(arch));
    m->to(torch::kCPU, torch::kDouble);
    m->train(false);  // no dropout: both runs see the same function
    Batch with = testing::ragged_batch(m->vocab_size());
    with.labels = torch::tensor({std::int64_t{2}, data::kNoLabel, std::int64_t{0}}, torch::kLong);
    Batch without = rows_of(with, {0, 2});

    const StepResult a = step(*m, with, 2, *comm);
    const StepResult b = step(*m, without, 2, *comm);

    // Independent value: plain cross-entropy summed over the labelled rows.
    double expected = 0;
    {
      torch::NoGradGuard no_grad;
      auto logits = m->forward(without).logits;
      expected = torch::nn::functional::cross_entropy(
                     logits, without.labels,
                     torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                     .item<double>();
    }
    EXPECT_GT(expected, 0.0);
    EXPECT_NEAR(b.loss_sum, expected, 1e-10 * expected);
    EXPECT_NEAR(a.loss_sum, b.loss_sum, 1e-10 * expected);
    EXPECT_EQ(a.correct, b.correct);
    ASSERT_EQ(a.grads.size(), b.grads.size());
    double norm = 0;
    for (std::size_t i = 0; i < a.grads.size(); ++i) {
      EXPECT_TRUE(torch::allclose(a.grads[i], b.grads[i], 1e-9, 1e-12)) << "parameter " << i;
      norm += b.grads[i].norm().item<double>();
    }
    EXPECT_GT(norm, 0.0) << "a zero gradient proves nothing";
  }
}

data::Example example(const std::string& id, const std::string& text, std::optional<std::string> label) {
  data::Example e;
  e.id = id;
  e.text = text;
  e.label = std::move(label);
  return e;
}

TEST(Evaluate, UnlabelledExamplesAreNotCounted) {
  auto comm = comm::make_communicator("local");
  std::vector<std::string_view> texts = {"a good film", "a bad plot", "dull and long"};
  auto tok = data::WordTokenizer::build(texts);
  auto m = make_builtin(testing::tiny_config("boe", tok.vocab_size()));
  const std::vector<std::string> labels = {"neg", "neu", "pos"};
  std::vector<data::Example> mixed = {example("a", "a good film", "pos"), example("b", "dull and long", std::nullopt),
                                      example("c", "a bad plot", "neg")};
  std::vector<data::Example> labelled = {mixed[0], mixed[2]};
  const EvalStats with = evaluate(*m, mixed, tok, 16, labels, /*batch=*/8, *comm);
  const EvalStats without = evaluate(*m, labelled, tok, 16, labels, 8, *comm);
  EXPECT_EQ(with.count, 2);
  EXPECT_EQ(without.count, 2);
  EXPECT_GT(without.loss_sum, 0.0);
  EXPECT_NEAR(with.loss_sum, without.loss_sum, 1e-6 * without.loss_sum);
  EXPECT_EQ(with.correct, without.correct);
}

}  // namespace
}  // namespace fathom::model
