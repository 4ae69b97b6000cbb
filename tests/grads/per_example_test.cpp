// Per-example gradients (grads/per_example.h) against an independent naive
// reference: each example alone, unpadded, one plain autograd::grad.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "fathom/core/error.h"
#include "fathom/data/example.h"
#include "fathom/grads/param_layout.h"
#include "fathom/grads/per_example.h"
#include "fathom/grads/projection.h"
#include "fathom/model/batching.h"
#include "fathom/model/taps.h"
#include "grads/grads_fixtures.h"

namespace fathom::grads {
namespace {

using testing::double_model;
using testing::naive_reference;
using testing::rel_err;
using model::testing::ragged_batch;

constexpr double kTol = 1e-5;

// ---------------------------------------------------------------- ParamLayout

TEST(ParamLayout, FollowsSelectParametersWithRowMajorOffsets) {
  for (const auto& arch : testing::architectures()) {
    auto m = double_model(arch);
    const std::vector<std::string> filters = {"classifier", "all", "embeddings", testing::deep_filter(arch)};
    for (const auto& filter : filters) {
      SCOPED_TRACE(arch + " / " + filter);
      auto layout = ParamLayout::select(*m, filter);
      auto selected = model::select_parameters(*m, filter);
      ASSERT_EQ(layout.size(), selected.size());
      std::int64_t offset = 0;
      for (std::size_t i = 0; i < selected.size(); ++i) {
        const auto& s = layout.params()[i];
        EXPECT_EQ(s.name, selected[i].first);
        EXPECT_EQ(s.shape, selected[i].second.sizes().vec());
        EXPECT_EQ(s.numel, selected[i].second.numel());
        EXPECT_EQ(s.offset, offset);
        EXPECT_TRUE(s.tensor.is_same(selected[i].second)) << "shares the model's parameter";
        EXPECT_EQ(layout.index_of(selected[i].second), static_cast<int>(i));
        EXPECT_EQ(layout.counts()[i], s.numel);
        offset += s.numel;
      }
      EXPECT_EQ(layout.dim(), offset);
      EXPECT_EQ(layout.index_of(torch::zeros({3})), -1);
    }
  }
}

TEST(ParamLayout, DescribesTheClassifier) {
  auto m = double_model("boe");
  auto layout = ParamLayout::select(*m, "classifier");
  EXPECT_EQ(layout.names(), (std::vector<std::string>{"classifier.weight", "classifier.bias"}));
  EXPECT_EQ(layout.shape_texts(), (std::vector<std::string>{"3x6", "3"}));
  EXPECT_EQ(layout.dim(), 21);
  EXPECT_EQ(layout.describe(), "classifier.weight [3,6] (18), classifier.bias [3] (3); D = 21");
}

TEST(ParamLayout, UnmatchedPatternIsAUsageError) {
  auto m = double_model("boe");
  EXPECT_THROW(ParamLayout::select(*m, "no.such.param"), UsageError);
}

// ------------------------------------------------------------- enum parsing

TEST(PerExampleParsing, LossTarget) {
  EXPECT_EQ(parse_loss_target("gold"), LossTarget::gold);
  EXPECT_EQ(parse_loss_target("predicted"), LossTarget::predicted);
  EXPECT_STREQ(loss_target_name(LossTarget::gold), "gold");
  EXPECT_STREQ(loss_target_name(LossTarget::predicted), "predicted");
  for (const char* bad : {"", "golden", "predict", "label", "gold,predicted"})
    EXPECT_THROW(parse_loss_target(bad), UsageError) << bad;
}

TEST(PerExampleParsing, GradientMethod) {
  EXPECT_EQ(parse_gradient_method("vectorised"), GradientMethod::vectorised);
  EXPECT_EQ(parse_gradient_method("loop"), GradientMethod::loop);
  for (const char* bad : {"", "loops", "batched", "naive", "vector"})
    EXPECT_THROW(parse_gradient_method(bad), UsageError) << bad;
}

// ------------------------------------------------- against the naive reference

// Checks every field of `got` against the reference and against model->forward.
void expect_matches(model::Model& m, const model::Batch& batch, const ExampleGradients& got,
                    const testing::Reference& ref, LossTarget target) {
  const auto B = batch.size();
  ASSERT_TRUE(got.gradients.defined());
  EXPECT_EQ(got.gradients.sizes().vec(), (std::vector<std::int64_t>{B, ref.dim}));
  EXPECT_EQ(got.gradients.scalar_type(), torch::kDouble);
  EXPECT_LE(rel_err(got.gradients, ref.gradients), kTol);
  for (std::int64_t b = 0; b < B; ++b) {
    ASSERT_GT(ref.gradients[b].norm().item<double>(), 0.0) << "row " << b << ": a zero reference proves nothing";
    EXPECT_LE(rel_err(got.gradients[b], ref.gradients[b]), kTol) << "row " << b;
  }

  // Forward fields against the model's own batched (padded) forward.
  torch::NoGradGuard no_grad;
  m.train(false);
  auto out = m.forward(batch);
  ASSERT_TRUE(got.logits.defined());
  ASSERT_TRUE(got.features.defined());
  EXPECT_FALSE(got.logits.requires_grad());
  EXPECT_LE(rel_err(got.logits, out.logits), 1e-10);
  EXPECT_LE(rel_err(got.features, out.features), 1e-10);
  // ... and against the unpadded per-example forwards (padding has no effect).
  EXPECT_LE(rel_err(got.logits, ref.logits), 1e-8);
  EXPECT_LE(rel_err(got.features, ref.features), 1e-8);

  auto predictions = out.logits.argmax(1);
  ASSERT_EQ(got.predictions.scalar_type(), torch::kLong);
  ASSERT_EQ(got.targets.scalar_type(), torch::kLong);
  EXPECT_TRUE(torch::equal(got.predictions, predictions));
  if (target == LossTarget::gold)
    EXPECT_TRUE(torch::equal(got.targets, batch.labels));
  else
    EXPECT_TRUE(torch::equal(got.targets, predictions));
  EXPECT_TRUE(torch::equal(got.targets, ref.targets));

  auto losses = torch::nn::functional::cross_entropy(
      out.logits, got.targets, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  ASSERT_EQ(got.losses.sizes().vec(), (std::vector<std::int64_t>{B}));
  EXPECT_LE(rel_err(got.losses, losses), 1e-10);
  EXPECT_LE(rel_err(got.losses, ref.losses), 1e-8);
}

enum class FilterKind { classifier, deep, embeddings, all };
std::string filter_for(FilterKind k, const std::string& arch) {
  switch (k) {
    case FilterKind::classifier: return "classifier";
    case FilterKind::deep: return testing::deep_filter(arch);
    case FilterKind::embeddings: return "embeddings";
    case FilterKind::all: return "all";
  }
  return "classifier";
}
const char* filter_kind_name(FilterKind k) {
  switch (k) {
    case FilterKind::classifier: return "classifier";
    case FilterKind::deep: return "deep";
    case FilterKind::embeddings: return "embeddings";
    case FilterKind::all: return "all";
  }
  return "?";
}

using VecParam = std::tuple<std::string, FilterKind, int, LossTarget>;

class VectorisedMatchesReference : public ::testing::TestWithParam<VecParam> {};

TEST_P(VectorisedMatchesReference, RowsAndFields) {
  const auto& [arch, kind, extra, target] = GetParam();
  const auto filter = filter_for(kind, arch);
  auto m = double_model(arch);
  auto batch = ragged_batch(m->vocab_size(), extra);
  PerExampleGradients pe(*m, ParamLayout::select(*m, filter));
  EXPECT_EQ(pe.output_dim(), pe.layout().dim());
  auto got = pe.compute(batch, target);
  auto ref = naive_reference(*m, filter, batch, target == LossTarget::predicted);
  EXPECT_EQ(pe.layout().names(), ref.names);
  EXPECT_EQ(pe.output_dim(), ref.dim);
  expect_matches(*m, batch, got, ref, target);
  EXPECT_TRUE(pe.loop_parameters().empty()) << "builtin models are fully tapped; loop: "
                                             << (pe.loop_parameters().empty() ? "" : pe.loop_parameters()[0]);
}

INSTANTIATE_TEST_SUITE_P(
    Builtin, VectorisedMatchesReference,
    ::testing::Combine(::testing::Values("boe", "bilstm", "transformer"),
                       ::testing::Values(FilterKind::classifier, FilterKind::deep, FilterKind::embeddings,
                                         FilterKind::all),
                       ::testing::Values(0, 3), ::testing::Values(LossTarget::gold, LossTarget::predicted)),
    [](const ::testing::TestParamInfo<VecParam>& info) {
      return std::get<0>(info.param) + "_" + filter_kind_name(std::get<1>(info.param)) + "_pad" +
             std::to_string(std::get<2>(info.param)) + "_" + loss_target_name(std::get<3>(info.param));
    });

class PerArchitecture : public ::testing::TestWithParam<std::string> {};

TEST_P(PerArchitecture, LoopMethodEqualsReferenceAndVectorised) {
  const auto arch = GetParam();
  auto m = double_model(arch);
  auto batch = ragged_batch(m->vocab_size(), 2);
  for (auto target : {LossTarget::gold, LossTarget::predicted}) {
    SCOPED_TRACE(loss_target_name(target));
    auto layout = ParamLayout::select(*m, "all");
    PerExampleGradients loop(*m, layout, nullptr, GradientMethod::loop);
    PerExampleGradients vec(*m, layout, nullptr, GradientMethod::vectorised);
    auto a = loop.compute(batch, target);
    auto b = vec.compute(batch, target);
    auto ref = naive_reference(*m, "all", batch, target == LossTarget::predicted);
    expect_matches(*m, batch, a, ref, target);
    EXPECT_LE(rel_err(a.gradients, b.gradients), kTol);
    EXPECT_EQ(loop.loop_parameters(), layout.names()) << "loop computes every parameter by the loop";
    EXPECT_TRUE(vec.loop_parameters().empty());
  }
}

TEST_P(PerArchitecture, DoesNotDependOnTheBatch) {
  const auto arch = GetParam();
  auto m = double_model(arch);
  auto batch = ragged_batch(m->vocab_size(), 3);
  PerExampleGradients pe(*m, ParamLayout::select(*m, "all"));
  auto whole = pe.compute(batch, LossTarget::gold);
  for (std::int64_t i = 0; i < batch.size(); ++i) {
    SCOPED_TRACE("row " + std::to_string(i));
    auto padded = pe.compute(testing::slice_row(batch, i), LossTarget::gold);
    auto trimmed = pe.compute(testing::trimmed_row(batch, i), LossTarget::gold);
    ASSERT_EQ(padded.gradients.size(0), 1);
    EXPECT_LE(rel_err(padded.gradients[0], whole.gradients[i]), kTol);
    EXPECT_LE(rel_err(trimmed.gradients[0], whole.gradients[i]), kTol);
    EXPECT_LE(rel_err(padded.logits[0], whole.logits[i]), 1e-10);
    EXPECT_LE(rel_err(padded.losses, whole.losses.slice(0, i, i + 1)), 1e-10);
  }
  // Reordered rows give reordered gradient rows.
  auto perm = torch::tensor({2, 0, 1}, torch::kLong);
  model::Batch shuffled;
  shuffled.ids = batch.ids.index_select(0, perm);
  shuffled.mask = batch.mask.index_select(0, perm);
  shuffled.type_ids = batch.type_ids.index_select(0, perm);
  shuffled.labels = batch.labels.index_select(0, perm);
  shuffled.rows = {2, 0, 1};
  auto s = pe.compute(shuffled, LossTarget::gold);
  EXPECT_LE(rel_err(s.gradients, whole.gradients.index_select(0, perm)), kTol);
}

TEST_P(PerArchitecture, RepeatedComputeIsStableAndLeavesTheModelUsable) {
  const auto arch = GetParam();
  auto m = double_model(arch);
  auto batch = ragged_batch(m->vocab_size());
  PerExampleGradients pe(*m, ParamLayout::select(*m, "all"));
  auto a = pe.compute(batch, LossTarget::predicted);
  auto b = pe.compute(batch, LossTarget::predicted);
  EXPECT_LE(rel_err(a.gradients, b.gradients), 1e-12);
  // Parameters keep requires_grad, and a plain forward/backward still works.
  for (auto& [name, t] : m->named_parameters()) EXPECT_TRUE(t.requires_grad()) << name;
  auto ref = naive_reference(*m, "all", batch, true);
  EXPECT_LE(rel_err(a.gradients, ref.gradients), kTol);
}

TEST_P(PerArchitecture, SelectingFewParametersLeavesEveryParameterRequiringGrad) {
  // compute() switches requires_grad off outside the layout for its forward
  // (no graph below the selected layers) and must restore it, also when it
  // throws half-way.
  auto m = double_model(GetParam());
  auto batch = ragged_batch(m->vocab_size());
  PerExampleGradients pe(*m, ParamLayout::select(*m, "classifier"));
  auto got = pe.compute(batch, LossTarget::gold);
  for (auto& [name, t] : m->named_parameters()) EXPECT_TRUE(t.requires_grad()) << name;
  EXPECT_LE(rel_err(got.gradients, naive_reference(*m, "classifier", batch, /*predicted=*/false).gradients), kTol);
  batch.labels[1] = data::kNoLabel;
  EXPECT_THROW(pe.compute(batch, LossTarget::gold), InputError);
  for (auto& [name, t] : m->named_parameters()) EXPECT_TRUE(t.requires_grad()) << name << " after a throw";
}

TEST_P(PerArchitecture, PutsTheModelInEvalMode) {
  auto m = double_model(GetParam());
  m->train(true);
  PerExampleGradients pe(*m, ParamLayout::select(*m, "classifier"));
  auto batch = ragged_batch(m->vocab_size());
  auto got = pe.compute(batch, LossTarget::gold);
  EXPECT_FALSE(m->is_training());
  // Dropout is off: the result is the deterministic eval-mode reference.
  auto ref = naive_reference(*m, "classifier", batch, false);
  EXPECT_LE(rel_err(got.gradients, ref.gradients), kTol);
}

TEST_P(PerArchitecture, GoldTargetWithAMissingLabelIsAnInputErrorNamingTheRow) {
  auto m = double_model(GetParam());
  auto batch = ragged_batch(m->vocab_size());
  batch.labels[1] = data::kNoLabel;
  batch.rows = {40, 41, 42};
  for (auto method : {GradientMethod::vectorised, GradientMethod::loop}) {
    PerExampleGradients pe(*m, ParamLayout::select(*m, "classifier"), nullptr, method);
    try {
      pe.compute(batch, LossTarget::gold);
      ADD_FAILURE() << "no throw";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("41"), std::string::npos) << e.what();
    }
    // The predicted label needs no gold label.
    auto got = pe.compute(batch, LossTarget::predicted);
    auto ref = naive_reference(*m, "classifier", batch, true);
    EXPECT_LE(rel_err(got.gradients, ref.gradients), kTol);
  }
  // No labels at all: gold is an InputError, predicted works.
  batch.labels = torch::Tensor();
  PerExampleGradients pe(*m, ParamLayout::select(*m, "classifier"));
  EXPECT_THROW(pe.compute(batch, LossTarget::gold), InputError);
  const auto unlabelled = pe.compute(batch, LossTarget::predicted);
  EXPECT_LE(rel_err(unlabelled.gradients, naive_reference(*m, "classifier", batch, true).gradients), kTol);
}

TEST_P(PerArchitecture, Float32MatchesItsReference) {
  auto m = model::make_builtin(model::testing::tiny_config(GetParam()));
  m->train(false);
  auto batch = ragged_batch(m->vocab_size(), 1);
  PerExampleGradients pe(*m, ParamLayout::select(*m, "all"));
  auto got = pe.compute(batch, LossTarget::gold);
  EXPECT_EQ(got.gradients.scalar_type(), torch::kFloat);
  EXPECT_EQ(got.logits.scalar_type(), torch::kFloat);
  auto ref = naive_reference(*m, "all", batch, false);
  EXPECT_LE(rel_err(got.gradients, ref.gradients), 1e-4);
}

// A builtin model whose layers record no taps, as inside a TorchScript
// encoder: its calls run under a recorder that watches nothing.
class Untapped : public model::Model {
 public:
  explicit Untapped(std::shared_ptr<model::Model> inner) : m_(std::move(inner)) {}
  std::string kind() const override { return m_->kind(); }
  std::string architecture() const override { return m_->architecture(); }
  torch::Tensor embed(const torch::Tensor& ids) override {
    model::TapScope hidden(silent_);
    return m_->embed(ids);
  }
  torch::Tensor embedding_matrix() override { return m_->embedding_matrix(); }
  model::ModelOutput forward_from_embeddings(const torch::Tensor& emb, const torch::Tensor& mask,
                                             const torch::Tensor& type_ids) override {
    model::TapScope hidden(silent_);
    return m_->forward_from_embeddings(emb, mask, type_ids);
  }
  std::vector<model::NamedParameter> named_parameters() override { return m_->named_parameters(); }
  std::map<std::string, std::vector<std::string>> parameter_groups() override { return m_->parameter_groups(); }
  void train(bool on) override { m_->train(on); }
  bool is_training() const override { return m_->is_training(); }
  void to(const torch::Device& device, torch::ScalarType dtype) override { m_->to(device, dtype); }
  torch::Device device() const override { return m_->device(); }
  std::int64_t vocab_size() const override { return m_->vocab_size(); }
  std::int64_t embedding_dim() const override { return m_->embedding_dim(); }
  std::int64_t hidden_dim() const override { return m_->hidden_dim(); }
  std::int64_t num_labels() const override { return m_->num_labels(); }
  void save_weights(const std::string& path) override { m_->save_weights(path); }
  void load_weights(const std::string& path) override { m_->load_weights(path); }

 private:
  std::shared_ptr<model::Model> m_;
  model::TapRecorder silent_;
};

// No tap sees any layer: the classifier comes from the logits = features Wᵀ
// + b contract, every other parameter from one backward per example; the
// split is decided on the first batch and kept for later (other) batches,
// and the factorised projection projects the loop rows too.
TEST_P(PerArchitecture, UntappedParametersFallBackToThePerExampleLoop) {
  Untapped m(double_model(GetParam()));
  const auto layout = ParamLayout::select(m, "all");
  std::vector<std::string> want_loop;
  for (const auto& name : layout.names())
    if (name != "classifier.weight" && name != "classifier.bias") want_loop.push_back(name);
  ASSERT_FALSE(want_loop.empty());
  PerExampleGradients plain(m, layout);
  auto logra = make_projector(parse_projection_spec("logra:4:13"), layout);
  ASSERT_NE(dynamic_cast<const FactorisedProjector*>(logra.get()), nullptr);
  PerExampleGradients projected(m, layout, logra.get());
  for (std::int64_t extra_padding : {0, 3}) {
    SCOPED_TRACE("extra padding " + std::to_string(extra_padding));
    auto batch = ragged_batch(m.vocab_size(), extra_padding);
    const auto ref = naive_reference(m, "all", batch, /*predicted=*/false);
    expect_matches(m, batch, plain.compute(batch, LossTarget::gold), ref, LossTarget::gold);
    EXPECT_EQ(plain.loop_parameters(), want_loop);
    EXPECT_LE(rel_err(projected.compute(batch, LossTarget::gold).gradients, logra->project(ref.gradients)), 1e-6);
    EXPECT_EQ(projected.loop_parameters(), want_loop);
  }
}

INSTANTIATE_TEST_SUITE_P(Builtin, PerArchitecture, ::testing::Values("boe", "bilstm", "transformer"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// ----------------------------------------------------------- loss_targets()

TEST(LossTargets, GoldPredictedAndMissing) {
  auto batch = ragged_batch(23);
  auto logits = torch::tensor({{0.1, 2.0, -1.0}, {3.0, 0.0, 0.5}, {0.0, 0.0, 4.0}}, torch::kDouble);
  EXPECT_TRUE(torch::equal(loss_targets(batch, logits, LossTarget::gold), batch.labels));
  EXPECT_TRUE(torch::equal(loss_targets(batch, logits, LossTarget::predicted),
                           torch::tensor({1, 0, 2}, torch::kLong)));
  batch.labels[2] = data::kNoLabel;
  EXPECT_THROW(loss_targets(batch, logits, LossTarget::gold), InputError);
  EXPECT_TRUE(torch::equal(loss_targets(batch, logits, LossTarget::predicted),
                           torch::tensor({1, 0, 2}, torch::kLong)));
}

}  // namespace
}  // namespace fathom::grads
