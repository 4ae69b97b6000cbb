// Layer taps inside TorchScript modules written here from the bundle
// contract alone (model.h, tools/fathom_export/wrapper.py): modules defined
// in C++ with Module::define, saved as a bundle and loaded like any user's.
// Per-example gradients are checked against plain autograd per example in
// float64 (grads_fixtures.h), the recorded TapCalls against what each site
// must record, and a module whose parameters are used by ops the rewriter
// does not know against its fallback: exactly those parameters take the
// loop, the log names them, results still equal the reference. No Python
// needed, so these run in test_grads everywhere.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <torch/script.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "fathom/data/word_tokenizer.h"
#include "fathom/grads/per_example.h"
#include "fathom/grads/projection.h"
#include "fathom/model/bundle.h"
#include "fathom/model/taps.h"
#include "grads/grads_fixtures.h"
#include "temp_dir.h"

namespace fathom::grads {
namespace {

using testing::rel_err;

constexpr double kTol = 1e-6;
constexpr std::int64_t kEmb = 6, kHidden = 5, kLabels = 3, kPositions = 16;

// The contract: embed / embedding_matrix / forward_from_embeddings / forward,
// a top-level `classifier` linear. The encoder uses every kind of site:
// embedding with padding_idx (embed), position embeddings of arange(T)
// broadcast over the batch, segment embeddings, layer_norm, linear, and a
// matmul with a parameter W [in,out]. `extra` adds lines to the encoder
// (on h [B,T,H]) before pooling.
const char* const kEncoderHead = R"JIT(
def embedding_matrix(self):
    return self.embeddings.weight

def embed(self, ids):
    return torch.embedding(self.embeddings.weight, ids, 0, False, False)

def forward(self, ids, mask, type_ids):
    return self.forward_from_embeddings(self.embed(ids), mask, type_ids)[0]

def forward_from_embeddings(self, emb, mask, type_ids):
    positions = torch.arange(emb.size(1), device=emb.device).unsqueeze(0)
    x = emb + torch.embedding(self.positions.weight, positions, -1, False, False)
    x = x + torch.embedding(self.types.weight, type_ids, -1, False, False)
    x = torch.layer_norm(x, [x.size(2)], self.norm.weight, self.norm.bias, 1e-5, True)
    h = torch.tanh(torch.linear(x, self.hidden.weight, self.hidden.bias))
    h = torch.tanh(torch.matmul(h, self.proj))
)JIT";
const char* const kEncoderTail = R"JIT(
    m = mask.unsqueeze(-1).to(h.dtype)
    features = torch.tanh((h * m).sum(1) / m.sum(1).clamp(min=1.0))
    return torch.linear(features, self.classifier.weight, self.classifier.bias), features
)JIT";

torch::jit::Module linear_module(const std::string& type, std::int64_t out, std::int64_t in) {
  torch::jit::Module m(type);
  m.register_parameter("weight", torch::randn({out, in}) * 0.5, false);
  m.register_parameter("bias", torch::randn({out}) * 0.1, false);
  return m;
}

torch::jit::Module scripted(std::int64_t vocab, const std::string& extra_params, const std::string& extra_lines) {
  torch::manual_seed(11);
  torch::jit::Module m("ContractNet");
  auto table = [&](const std::string& name, std::int64_t rows) {
    torch::jit::Module e("Table_" + name);
    e.register_parameter("weight", torch::randn({rows, kEmb}) * 0.5, false);
    m.register_module(name, e);
  };
  table("embeddings", vocab);
  table("positions", kPositions);
  table("types", 2);
  torch::jit::Module norm("Norm");
  norm.register_parameter("weight", 1 + 0.2 * torch::randn({kEmb}), false);
  norm.register_parameter("bias", 0.1 * torch::randn({kEmb}), false);
  m.register_module("norm", norm);
  m.register_module("hidden", linear_module("Hidden", kHidden, kEmb));
  m.register_parameter("proj", torch::randn({kHidden, kHidden}) * 0.5, false);
  if (extra_params.find("gate") != std::string::npos) m.register_parameter("gate", torch::randn({kHidden}), false);
  if (extra_params.find("w2") != std::string::npos)
    m.register_parameter("w2", torch::randn({kHidden, kHidden}) * 0.5, false);
  if (extra_params.find("again") != std::string::npos) m.register_module("again", linear_module("Again", kHidden, kHidden));
  m.register_module("classifier", linear_module("Classifier", kLabels, kHidden));
  m.define(std::string(kEncoderHead) + extra_lines + kEncoderTail);
  return m;
}

// Saves `module` as a bundle in `dir` (word tokenizer, three labels, a
// "head" group) and loads it in float64.
model::Bundle save_and_load(const fathom::testing::TempDir& dir, const data::WordTokenizer& tok,
                            torch::jit::Module module) {
  module.save(dir / "model.pt");
  tok.save_vocab(dir / "vocab.txt");
  std::ofstream(dir / "labels.txt") << "neg\nneu\npos\n";
  std::string options = tok.options_json();
  options.insert(1, "\"kind\": \"word\", ");
  std::ofstream(dir / "fathom.json")
      << R"({"format": "fathom-bundle", "format_version": 1, "kind": "torchscript", "architecture": "contract-test",)"
      << R"( "max_length": 16, "weights": "model.pt", "tokenizer": )" << options
      << R"(, "parameter_groups": {"head": ["hidden.weight", "hidden.bias", "proj", "classifier.weight", "classifier.bias"]}})";
  model::Bundle b = model::load_bundle(dir.str());
  b.model->to(torch::kCPU, torch::kDouble);
  return b;
}

data::WordTokenizer tokenizer() {
  std::vector<std::string_view> texts = {"a great film", "a dull film with a thin plot", "great acting", "dull",
                                         "the story moved me", "nobody liked the ending"};
  return data::WordTokenizer::build(texts);
}

// Five rows: padding, pairs (type 1 on the second segment), and the pad id
// at a real position of row 0 (padding_idx 0: its row must get no gradient).
model::Batch batch_for(std::int64_t vocab) {
  torch::manual_seed(3);
  const std::int64_t B = 5, T = 7;
  const std::int64_t lengths[] = {7, 3, 5, 1, 6};
  const std::int64_t pair_from[] = {4, 0, 3, 0, 2};  // 0: no pair
  model::Batch b;
  b.ids = torch::randint(1, vocab, {B, T}, torch::kLong);
  b.mask = torch::zeros({B, T}, torch::kLong);
  b.type_ids = torch::zeros({B, T}, torch::kLong);
  for (std::int64_t i = 0; i < B; ++i) {
    b.mask[i].narrow(0, 0, lengths[i]).fill_(1);
    b.ids[i].narrow(0, lengths[i], T - lengths[i]).fill_(0);
    if (pair_from[i] > 0) b.type_ids[i].narrow(0, pair_from[i], lengths[i] - pair_from[i]).fill_(1);
  }
  b.ids[0][2] = 0;
  b.labels = torch::tensor({0, 2, 1, 1, 0}, torch::kLong);
  for (std::int64_t i = 0; i < B; ++i) b.rows.push_back(i);
  return b;
}

// Vectorised (and LoGra on the factorised path) against the reference.
void check(model::Model& m, const std::string& filter, const std::vector<std::string>& expected_loop) {
  SCOPED_TRACE(filter);
  model::Batch batch = batch_for(m.vocab_size());
  ParamLayout layout = ParamLayout::select(m, filter);
  PerExampleGradients fast(m, layout);
  for (bool predicted : {false, true}) {
    const auto ref = testing::naive_reference(m, filter, batch, predicted);
    for (std::int64_t b = 0; b < batch.size(); ++b) ASSERT_GT(ref.gradients[b].norm().item<double>(), 0.0);
    const auto got = fast.compute(batch, predicted ? LossTarget::predicted : LossTarget::gold);
    ASSERT_EQ(got.gradients.sizes(), ref.gradients.sizes());
    for (std::int64_t b = 0; b < batch.size(); ++b)
      EXPECT_LE(rel_err(got.gradients[b], ref.gradients[b]), kTol) << "row " << b;
    EXPECT_LE(rel_err(got.logits, ref.logits), 1e-8);
  }
  EXPECT_EQ(fast.loop_parameters(), expected_loop);

  if (layout.dim() > 64) {
    auto projector = make_projector(parse_projection_spec("logra:3:1"), layout);
    PerExampleGradients projected(m, layout, projector.get());
    const auto got = projected.compute(batch, LossTarget::gold);
    const torch::Tensor expected = projector->project(testing::naive_reference(m, filter, batch, false).gradients);
    for (std::int64_t b = 0; b < batch.size(); ++b)
      EXPECT_LE(rel_err(got.gradients[b], expected[b]), kTol) << "logra row " << b;
  }
}

// Captures spdlog output for its lifetime.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(text_)) {
    spdlog::default_logger()->sinks().push_back(sink_);
  }
  ~LogCapture() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  std::string str() const { return text_.str(); }

 private:
  std::ostringstream text_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

TEST(ScriptTaps, ContractModuleIsVectorisedForEveryGroup) {
  fathom::testing::TempDir dir("script_taps_contract");
  auto tok = tokenizer();
  model::Bundle b = save_and_load(dir, tok, scripted(tok.vocab_size(), "", ""));
  for (const std::string filter : {"classifier", "head", "embeddings", "positions.*,types.*", "norm.*",
                                   "hidden.*", "proj", "all"})
    check(*b.model, filter, {});
}

TEST(ScriptTaps, RecordsTheSameCallsABuiltInModelWould) {
  fathom::testing::TempDir dir("script_taps_calls");
  auto tok = tokenizer();
  model::Bundle b = save_and_load(dir, tok, scripted(tok.vocab_size(), "", ""));
  model::Batch batch = batch_for(b.model->vocab_size());
  std::map<std::string, torch::Tensor> params;
  model::TapRecorder recorder;
  for (auto& [name, t] : b.model->named_parameters()) {
    params[name] = t;
    recorder.watch(t);
  }
  model::ModelOutput out;
  {
    model::TapScope scope(recorder);
    out = b.model->forward(batch);
  }
  // Untapped, the same logits.
  torch::NoGradGuard no_grad;
  EXPECT_LE(rel_err(out.logits, b.model->forward(batch).logits), 1e-12);

  const auto& calls = recorder.calls();
  ASSERT_EQ(calls.size(), 7u);
  const std::int64_t B = batch.size(), T = batch.ids.size(1);
  struct Want {
    model::TapKind kind;
    const char* weight;
    const char* bias;
    bool transposed;
    std::vector<std::int64_t> input, output;
  };
  const Want want[] = {
      {model::TapKind::embedding, "embeddings.weight", nullptr, false, {B, T}, {B, T, kEmb}},
      {model::TapKind::embedding, "positions.weight", nullptr, false, {B, T}, {B, T, kEmb}},  // widened
      {model::TapKind::embedding, "types.weight", nullptr, false, {B, T}, {B, T, kEmb}},
      {model::TapKind::scale_shift, "norm.weight", "norm.bias", false, {B, T, kEmb}, {B, T, kEmb}},
      {model::TapKind::linear, "hidden.weight", "hidden.bias", false, {B, T, kEmb}, {B, T, kHidden}},
      {model::TapKind::linear, "proj", nullptr, true, {B, T, kHidden}, {B, T, kHidden}},
      {model::TapKind::linear, "classifier.weight", "classifier.bias", false, {B, kHidden}, {B, kLabels}},
  };
  for (std::size_t k = 0; k < calls.size(); ++k) {
    SCOPED_TRACE(want[k].weight);
    EXPECT_EQ(calls[k].kind, want[k].kind);
    EXPECT_TRUE(calls[k].weight.is_same(params.at(want[k].weight)));
    EXPECT_EQ(calls[k].bias.defined(), want[k].bias != nullptr);
    if (want[k].bias) EXPECT_TRUE(calls[k].bias.is_same(params.at(want[k].bias)));
    EXPECT_EQ(calls[k].weight_transposed, want[k].transposed);
    EXPECT_EQ(calls[k].input.sizes().vec(), want[k].input);
    EXPECT_EQ(calls[k].output.sizes().vec(), want[k].output);
    EXPECT_FALSE(calls[k].input.requires_grad());
    EXPECT_TRUE(calls[k].output.requires_grad());
  }
  // The activations are the layer inputs: ids, positions 0..T-1 per row, x̂ with zero mean and unit variance.
  EXPECT_TRUE(torch::equal(calls[0].input, batch.ids));
  EXPECT_TRUE(torch::equal(calls[1].input, torch::arange(T).expand({B, T})));
  EXPECT_TRUE(torch::equal(calls[2].input, batch.type_ids));
  EXPECT_LE(calls[3].input.mean(-1).abs().max().item<double>(), 1e-10);
  // And nothing is recorded for parameters the recorder does not watch.
  model::TapRecorder only_hidden;
  only_hidden.watch(params.at("hidden.bias"));
  {
    model::TapScope scope(only_hidden);
    torch::AutoGradMode grad_on(true);
    b.model->forward(batch);
  }
  ASSERT_EQ(only_hidden.calls().size(), 1u);
  EXPECT_TRUE(only_hidden.calls()[0].bias.is_same(params.at("hidden.bias")));
}

TEST(ScriptTaps, UnknownOpsFallBackForExactlyTheirParameters) {
  fathom::testing::TempDir dir("script_taps_unknown");
  auto tok = tokenizer();
  // gate: elementwise product; w2: through .t(); again: a linear inside a
  // loop; hidden.weight: also read by aten::sum (so its linear use must not
  // be recorded either, while hidden.bias stays vectorised).
  const std::string lines =
      "    h = h * self.gate\n"
      "    h = torch.tanh(torch.matmul(h, self.w2.t()))\n"
      "    for i in range(2):\n"
      "        h = torch.tanh(torch.linear(h, self.again.weight, self.again.bias))\n"
      "    h = h + 0.1 * torch.sum(self.hidden.weight)\n";
  LogCapture log;
  model::Bundle b = save_and_load(dir, tok, scripted(tok.vocab_size(), "gate w2 again", lines));
  std::vector<std::string> expected;
  for (auto& [name, t] : b.model->named_parameters())
    if (name == "gate" || name == "w2" || name.rfind("again.", 0) == 0 || name == "hidden.weight")
      expected.push_back(name);
  ASSERT_EQ(expected.size(), 5u);
  check(*b.model, "all", expected);
  check(*b.model, "hidden.*", {"hidden.weight"});
  check(*b.model, "classifier,embeddings,norm.*,proj", {});
  const std::string text = log.str();
  EXPECT_NE(text.find("'gate' is used by aten::mul"), std::string::npos) << text;
  EXPECT_NE(text.find("'w2' is used by aten::t"), std::string::npos) << text;
  EXPECT_NE(text.find("'again.weight' is used by aten::linear inside a loop or branch"), std::string::npos) << text;
  EXPECT_NE(text.find("'again.bias' is used by aten::linear inside a loop or branch"), std::string::npos) << text;
  EXPECT_NE(text.find("'hidden.weight' is used by aten::sum"), std::string::npos) << text;
  EXPECT_EQ(text.find("'hidden.bias' is used"), std::string::npos) << text;
}

TEST(ScriptTaps, SwitchedOffTheModuleRunsAsBefore) {
  fathom::testing::TempDir dir("script_taps_off");
  auto tok = tokenizer();
  ::setenv("FATHOM_TORCHSCRIPT_TAPS", "0", 1);
  model::Bundle b = save_and_load(dir, tok, scripted(tok.vocab_size(), "", ""));
  std::vector<std::string> all_but_classifier;
  for (auto& [name, t] : b.model->named_parameters())
    if (name.rfind("classifier.", 0) != 0) all_but_classifier.push_back(name);
  check(*b.model, "all", all_but_classifier);
  ::unsetenv("FATHOM_TORCHSCRIPT_TAPS");
}

}  // namespace
}  // namespace fathom::grads
