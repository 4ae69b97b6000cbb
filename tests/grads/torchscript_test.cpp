// Per-example gradients of TorchScript bundles (tools/export-model): the
// classifier is vectorised through the contract (logits = features Wᵀ + b),
// other parameters fall back to one backward per example; both must equal
// the naive loop (each example alone, unpadded). Runs as ctest
// grads_torchscript against the bundles of the model_export fixture; the
// copies that gtest_discover_tests registers skip without them.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "fathom/data/corpus.h"
#include "fathom/grads/per_example.h"
#include "fathom/model/batching.h"
#include "fathom/model/bundle.h"

namespace fs = std::filesystem;
using namespace fathom;

namespace {

std::string bundle_or_empty(const std::string& name) {
  const char* root = std::getenv("FATHOM_PARITY_BUNDLES");
  if (!root) return "";
  return (fs::path(root) / name).string();
}

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

double rel_err(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).norm().item<double>() /
         std::max(1e-30, b.to(torch::kDouble).norm().item<double>());
}

void check(const std::string& name, const std::string& filter, bool expect_loop) {
  const std::string dir = bundle_or_empty(name);
  if (dir.empty()) GTEST_SKIP() << "FATHOM_PARITY_BUNDLES is not set (ctest -R grads_torchscript runs this)";
  if (!fs::exists(fs::path(dir) / "fathom.json"))
    GTEST_SKIP() << dir << " does not exist (no python3-torch to export it with tools/export-model)";
  model::Bundle bundle = model::load_bundle(dir);
  bundle.model->to(torch::kCPU, torch::kDouble);
  model::Batch batch = sample_batch(bundle);
  grads::ParamLayout layout = grads::ParamLayout::select(*bundle.model, filter);
  grads::PerExampleGradients fast(*bundle.model, layout);
  grads::PerExampleGradients naive(*bundle.model, layout, nullptr, grads::GradientMethod::loop);
  for (auto target : {grads::LossTarget::gold, grads::LossTarget::predicted}) {
    auto a = fast.compute(batch, target);
    auto b = naive.compute(batch, target);
    EXPECT_LT(rel_err(a.gradients, b.gradients), 1e-6) << name << " " << filter;
    EXPECT_GT(b.gradients.norm().item<double>(), 0.0);
    EXPECT_LT(rel_err(a.logits, b.logits), 1e-9);
  }
  EXPECT_EQ(fast.loop_parameters().empty(), !expect_loop) << name << " " << filter;
}

TEST(TorchScriptGradients, BertClassifierIsVectorised) { check("bert", "classifier", false); }
TEST(TorchScriptGradients, BertAllFallsBackToTheLoopBeyondTheClassifier) { check("bert", "all", true); }
TEST(TorchScriptGradients, BiLstmClassifierIsVectorised) { check("bilstm", "classifier", false); }

}  // namespace
