// Per-example gradients of TorchScript bundles (tools/export-model) against
// an independent reference: each example alone, unpadded, one plain
// torch::autograd::grad in float64 (grads_fixtures.h, written only against
// the model contract). The classifier is vectorised through the contract
// (logits = features Wᵀ + b); other parameters fall back to one backward per
// example; both methods ("vectorised" and "loop") must equal the reference.
//
// Runs as ctest grads_torchscript (fathom_bundle_test) against the bundles of
// the model_export fixture, which sets FATHOM_PARITY_BUNDLES: there a missing
// bundle is a failure. Only a hand run without that variable skips.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "fathom/data/corpus.h"
#include "fathom/grads/per_example.h"
#include "fathom/model/batching.h"
#include "fathom/model/bundle.h"
#include "grads/grads_fixtures.h"

namespace fs = std::filesystem;
using namespace fathom;

namespace {

constexpr double kTol = 1e-6;

model::Batch sample_batch(const model::Bundle& bundle) {
  std::vector<data::Example> examples(5);
  const char* texts[] = {"a fine film", "the plot was dull and the actors were worse", "great", "not good at all",
                         "an unexpected , moving story with a weak ending"};
  for (std::size_t i = 0; i < examples.size(); ++i) {
    examples[i].id = "t" + std::to_string(i);
    examples[i].text = texts[i];
    examples[i].label = bundle.info.labels[i % bundle.info.labels.size()];
  }
  return model::make_batch(examples, *bundle.tokenizer, bundle.info.max_length, bundle.info.labels);
}

void check(const std::string& name, const std::string& filter, bool expect_loop) {
  const char* root = std::getenv("FATHOM_PARITY_BUNDLES");
  if (root == nullptr || *root == '\0')
    GTEST_SKIP() << "FATHOM_PARITY_BUNDLES is not set (ctest -R grads_torchscript runs this)";
  const std::string dir = (fs::path(root) / name).string();
  ASSERT_TRUE(fs::exists(fs::path(dir) / "fathom.json")) << dir << " was not exported by model_export_fixture";

  model::Bundle bundle = model::load_bundle(dir);
  bundle.model->to(torch::kCPU, torch::kDouble);
  model::Batch batch = sample_batch(bundle);
  ASSERT_GT(batch.mask.size(1), batch.mask.sum(1).min().item<std::int64_t>()) << "the batch must hold padding";

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
  EXPECT_EQ(fast.loop_parameters().empty(), !expect_loop) << name << " " << filter;
}

TEST(TorchScriptGradients, BertClassifierIsVectorised) { check("bert", "classifier", false); }
TEST(TorchScriptGradients, BertAllFallsBackToTheLoopBeyondTheClassifier) { check("bert", "all", true); }
TEST(TorchScriptGradients, BiLstmClassifierIsVectorised) { check("bilstm", "classifier", false); }
TEST(TorchScriptGradients, BiLstmAllMatchesTheReference) { check("bilstm", "all", true); }

}  // namespace
