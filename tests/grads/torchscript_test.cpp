// Per-example gradients of TorchScript bundles (tools/export-model) against
// an independent reference: each example alone, unpadded, one plain
// torch::autograd::grad in float64 (grads_fixtures.h, written only against
// the model contract). Layer taps inside the scripted graphs
// (model/script_taps.h) vectorise every linear, embedding and LayerNorm
// parameter; the BiLSTM's aten::lstm weights fall back to one backward per
// example, and exactly those. Both methods ("vectorised" and "loop") and the
// factorised LoGra path must equal the reference, on a batch with padding
// and text pairs.
//
// Runs as ctest grads_torchscript (fathom_bundle_test) against the bundles of
// the model_export fixture, which sets FATHOM_PARITY_BUNDLES: there a missing
// bundle is a failure. Only a hand run without that variable skips.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "fathom/data/corpus.h"
#include "fathom/grads/per_example.h"
#include "fathom/grads/projection.h"
#include "fathom/model/batching.h"
#include "fathom/model/bundle.h"
#include "grads/grads_fixtures.h"

namespace fs = std::filesystem;
using namespace fathom;

namespace {

constexpr double kTol = 1e-6;

// Six rows of different lengths (padding), three of them pairs (type ids 1).
model::Batch sample_batch(const model::Bundle& bundle) {
  struct Text {
    const char* text;
    const char* pair;
  };
  const Text texts[] = {{"a fine film", nullptr},
                        {"the plot was dull and the actors were worse", "nobody liked it"},
                        {"great", nullptr},
                        {"not good at all", "it was bad"},
                        {"an unexpected , moving story with a weak ending", nullptr},
                        {"fine", "a fine film with a plot"}};
  std::vector<data::Example> examples;
  for (std::size_t i = 0; i < std::size(texts); ++i) {
    data::Example e;
    e.id = "t" + std::to_string(i);
    e.text = texts[i].text;
    if (texts[i].pair) e.text_pair = texts[i].pair;
    e.label = bundle.info.labels[i % bundle.info.labels.size()];
    examples.push_back(e);
  }
  return model::make_batch(examples, *bundle.tokenizer, bundle.info.max_length, bundle.info.labels);
}

model::Bundle load(const std::string& name) {
  const char* root = std::getenv("FATHOM_PARITY_BUNDLES");
  const std::string dir = (fs::path(root) / name).string();
  EXPECT_TRUE(fs::exists(fs::path(dir) / "fathom.json")) << dir << " was not exported by model_export_fixture";
  model::Bundle bundle = model::load_bundle(dir);
  bundle.model->to(torch::kCPU, torch::kDouble);
  return bundle;
}

#define SKIP_WITHOUT_BUNDLES()                                        \
  do {                                                                \
    const char* root = std::getenv("FATHOM_PARITY_BUNDLES");         \
    if (root == nullptr || *root == '\0')                             \
      GTEST_SKIP() << "FATHOM_PARITY_BUNDLES is not set (ctest -R grads_torchscript runs this)"; \
  } while (0)

std::vector<std::string> matching(model::Model& m, const std::string& glob) {
  std::vector<std::string> out;
  for (const auto& [name, t] : m.named_parameters())
    if (model::glob_match(glob, name)) out.push_back(name);
  return out;
}

// `expected_loop`: the parameters the vectorised method must leave to the
// per-example loop (in layout order).
void check(const std::string& name, const std::string& filter, const std::vector<std::string>& expected_loop) {
  model::Bundle bundle = load(name);
  ASSERT_TRUE(bundle.model);
  model::Batch batch = sample_batch(bundle);
  ASSERT_GT(batch.mask.size(1), batch.mask.sum(1).min().item<std::int64_t>()) << "the batch must hold padding";
  ASSERT_GT(batch.type_ids.max().item<std::int64_t>(), 0) << "the batch must hold pairs";

  grads::ParamLayout layout = grads::ParamLayout::select(*bundle.model, filter);
  grads::PerExampleGradients fast(*bundle.model, layout);
  grads::PerExampleGradients loop(*bundle.model, layout, nullptr, grads::GradientMethod::loop);
  for (auto target : {grads::LossTarget::gold, grads::LossTarget::predicted}) {
    SCOPED_TRACE(name + " / " + filter + " / " + grads::loss_target_name(target));
    const auto ref =
        grads::testing::naive_reference(*bundle.model, filter, batch, target == grads::LossTarget::predicted);
    ASSERT_EQ(ref.gradients.scalar_type(), torch::kDouble);
    ASSERT_EQ(ref.dim, layout.dim());
    for (std::int64_t b = 0; b < batch.size(); ++b)
      ASSERT_GT(ref.gradients[b].norm().item<double>(), 0.0) << "row " << b << ": a zero reference proves nothing";

    for (auto* method : {&fast, &loop}) {
      const auto got = method->compute(batch, target);
      const char* which = method == &fast ? "vectorised" : "loop";
      ASSERT_EQ(got.gradients.sizes(), ref.gradients.sizes()) << which;
      for (std::int64_t b = 0; b < batch.size(); ++b)
        EXPECT_LE(grads::testing::rel_err(got.gradients[b], ref.gradients[b]), kTol) << which << " row " << b;
      EXPECT_LE(grads::testing::rel_err(got.logits, ref.logits), 1e-8) << which;
      EXPECT_TRUE(torch::equal(got.targets, ref.targets)) << which;
      EXPECT_LE(grads::testing::rel_err(got.losses, ref.losses), 1e-8) << which;
    }
  }
  EXPECT_EQ(fast.loop_parameters(), expected_loop) << name << " " << filter;
}

// LoGra on the factorised path (δ and a projected before the outer product)
// equals the projection of the reference's full gradient rows.
void check_logra(const std::string& name, const std::string& filter) {
  model::Bundle bundle = load(name);
  model::Batch batch = sample_batch(bundle);
  grads::ParamLayout layout = grads::ParamLayout::select(*bundle.model, filter);
  auto projector = grads::make_projector(grads::parse_projection_spec("logra:4:3"), layout);
  ASSERT_TRUE(dynamic_cast<const grads::FactorisedProjector*>(projector.get()));
  grads::PerExampleGradients fast(*bundle.model, layout, projector.get());
  const auto got = fast.compute(batch, grads::LossTarget::gold);
  const auto ref = grads::testing::naive_reference(*bundle.model, filter, batch, false);
  const torch::Tensor expected = projector->project(ref.gradients);
  ASSERT_EQ(got.gradients.sizes(), expected.sizes());
  for (std::int64_t b = 0; b < batch.size(); ++b)
    EXPECT_LE(grads::testing::rel_err(got.gradients[b], expected[b]), kTol) << name << " " << filter << " row " << b;
}

TEST(TorchScriptGradients, BertClassifier) {
  SKIP_WITHOUT_BUNDLES();
  check("bert", "classifier", {});
}
TEST(TorchScriptGradients, BertHead) {
  SKIP_WITHOUT_BUNDLES();
  check("bert", "head", {});
}
TEST(TorchScriptGradients, BertEveryEncoderLayer) {
  SKIP_WITHOUT_BUNDLES();
  check("bert", "encoder.layers.0.*", {});
  check("bert", "encoder.layers.1.*", {});
}
TEST(TorchScriptGradients, BertEmbeddingsAndEncoderEmbeddings) {
  SKIP_WITHOUT_BUNDLES();
  check("bert", "embeddings", {});
  // Position embeddings of arange(T) broadcast over the batch; token types; their LayerNorm.
  check("bert", "encoder.position_embeddings.*,encoder.token_type_embeddings.*,encoder.layer_norm.*", {});
}
TEST(TorchScriptGradients, BertAllIsVectorised) {
  SKIP_WITHOUT_BUNDLES();
  check("bert", "all", {});
}
TEST(TorchScriptGradients, BertLograOnTheFactorisedPath) {
  SKIP_WITHOUT_BUNDLES();
  check_logra("bert", "all");
}

TEST(TorchScriptGradients, BiLstmClassifierHeadAndEmbeddings) {
  SKIP_WITHOUT_BUNDLES();
  check("bilstm", "classifier", {});
  check("bilstm", "head", {});
  check("bilstm", "embeddings", {});  // padding_idx: the [PAD] row gets no gradient
}
TEST(TorchScriptGradients, BiLstmLstmWeightsTakeTheLoop) {
  SKIP_WITHOUT_BUNDLES();
  model::Bundle bundle = load("bilstm");
  const auto lstm = matching(*bundle.model, "encoder.lstm.*");
  ASSERT_FALSE(lstm.empty());
  check("bilstm", "encoder.*", lstm);
  check("bilstm", "all", lstm);
}
TEST(TorchScriptGradients, BiLstmLograOnTheFactorisedPath) {
  SKIP_WITHOUT_BUNDLES();
  check_logra("bilstm", "all");
}

}  // namespace
