// Bundles: round trips (builtin and TorchScript) and one test per validation
// failure, each asserting the file and field the message names.
#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "fathom/core/error.h"
#include "fathom/data/word_tokenizer.h"
#include "fathom/model/builtin.h"
#include "fathom/model/bundle.h"
#include "model/builtin_fixtures.h"
#include "test_files.h"

namespace fathom::model {
namespace {

namespace fs = std::filesystem;
using fathom::testing::slurp;
using json = nlohmann::json;

data::WordTokenizer tokenizer() {
  std::vector<std::string_view> texts = {"a great film", "a dull film with a thin plot", "great acting", "dull"};
  return data::WordTokenizer::build(texts);
}


void spit(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::trunc) << text; }

std::vector<std::string> names_of(const std::vector<NamedParameter>& params) {
  std::vector<std::string> out;
  for (const auto& p : params) out.push_back(p.first);
  return out;
}

class BundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir = ::testing::TempDir() + "/fathom_bundle_" + info->name() + "_" + std::to_string(::getpid());
    fs::remove_all(dir);
  }
  void TearDown() override { fs::remove_all(dir); }

  std::string file(const std::string& name) const { return dir + "/" + name; }

  // A saved builtin bundle; returns its model.
  // Its weights are moved off their seeded initialisation, so a load that
  // kept the initial weights instead of reading weights.pt would differ.
  std::shared_ptr<Model> save_builtin(const std::string& arch = "transformer") {
    auto tok = tokenizer();
    auto model = make_builtin(testing::tiny_config(arch, tok.vocab_size()));
    {
      torch::NoGradGuard no_grad;
      for (auto& [name, t] : model->named_parameters()) t.add_(0.01 * (1 + t.numel() % 7));
    }
    BundleInfo info;
    info.labels = {"neg", "neu", "pos"};
    info.max_length = 16;
    save_bundle(dir, *model, tok, info);
    return model;
  }

  json manifest() const { return json::parse(slurp(file("fathom.json"))); }
  void set_manifest(const json& j) const { spit(file("fathom.json"), j.dump(2)); }

  // load_bundle must throw InputError naming `file_name` (a path ending) and
  // `field`, with `part` in the message.
  void expect_rejected(const std::string& file_name, const std::string& field, const std::string& part) const {
    try {
      load_bundle(dir);
      FAIL() << "load_bundle accepted a bad bundle (expected " << file_name << " / " << field << ")";
    } catch (const InputError& e) {
      std::string msg = e.what();
      EXPECT_EQ(fs::path(e.file()).filename().string(), file_name) << msg;
      EXPECT_EQ(e.field(), field) << msg;
      EXPECT_NE(msg.find(part), std::string::npos) << "expected '" << part << "' in: " << msg;
      EXPECT_EQ(msg.rfind(e.file(), 0), 0u) << "message starts with the file: " << msg;
    }
  }

  std::string dir;
};

ModelOutput run(Model& model, const Batch& b) {
  torch::NoGradGuard no_grad;
  return model.forward(b);
}

TEST_F(BundleTest, BuiltinRoundTripGivesIdenticalLogits) {
  for (const std::string arch : {"boe", "bilstm", "transformer"}) {
    auto model = save_builtin(arch);
    model->train(false);
    Bundle b = load_bundle(dir);
    EXPECT_EQ(b.info.kind, "builtin");
    EXPECT_EQ(b.info.architecture, arch);
    EXPECT_EQ(b.info.labels, (std::vector<std::string>{"neg", "neu", "pos"}));
    EXPECT_EQ(b.info.max_length, 16);
    EXPECT_EQ(b.info.tokenizer_kind, "word");
    EXPECT_EQ(b.info.weights_file, "weights.pt");
    EXPECT_EQ(b.label_index("pos"), 2);
    EXPECT_EQ(b.label_index("maybe"), data::kNoLabel);
    EXPECT_EQ(b.weights_sha256.size(), 64u);
    EXPECT_FALSE(b.model->is_training()) << "bundles load in eval mode";
    EXPECT_EQ(b.tokenizer->vocab_size(), b.model->vocab_size());
    auto batch = testing::ragged_batch(b.model->vocab_size());
    EXPECT_TRUE(torch::equal(run(*model, batch).logits, run(*b.model, batch).logits)) << arch;
    ASSERT_NE(builtin_config(*b.model), nullptr);
    EXPECT_EQ(builtin_config(*b.model)->to_json(), builtin_config(*model)->to_json());
  }
}

TEST_F(BundleTest, ManifestHasTheDocumentedFields) {
  save_builtin("bilstm");
  json j = manifest();
  for (const char* key : {"format", "format_version", "kind", "architecture", "tokenizer", "max_length",
                          "special_tokens", "labels", "vocab_size", "embedding_dim", "hidden_dim", "num_labels",
                          "parameter_groups", "weights", "config"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["format"], "fathom-bundle");
  EXPECT_EQ(j["format_version"], 1);
  EXPECT_EQ(j["tokenizer"]["kind"], "word");
  EXPECT_EQ(j["special_tokens"]["[CLS]"], tokenizer().cls_id());
  EXPECT_EQ(j["parameter_groups"]["classifier"], json({"classifier.weight", "classifier.bias"}));
  EXPECT_EQ(j["config"]["architecture"], "bilstm");
}

TEST_F(BundleTest, MissingFilesAreNamed) {
  save_builtin();
  fs::remove(file("fathom.json"));
  expect_rejected("fathom.json", "", "missing");

  for (const std::string name : {"weights.pt", "vocab.txt", "labels.txt"}) {
    save_builtin();
    fs::remove(file(name));
    expect_rejected(name, "", "missing");
  }
  EXPECT_THROW(load_bundle(dir + "/does-not-exist"), InputError);
}

TEST_F(BundleTest, MalformedJsonQuotesTheParseError) {
  save_builtin();
  spit(file("fathom.json"), "{\"format\": \"fathom-bundle\",\n  \"kind\": }\n");
  expect_rejected("fathom.json", "", "malformed JSON");
  expect_rejected("fathom.json", "", "line 2");
}

TEST_F(BundleTest, UnknownFormatVersion) {
  save_builtin();
  json j = manifest();
  j["format_version"] = 7;
  set_manifest(j);
  expect_rejected("fathom.json", "format_version", "unsupported version 7 (this fathom reads version 1)");
  j["format_version"] = "1";
  set_manifest(j);
  expect_rejected("fathom.json", "format_version", "expected an integer");
}

TEST_F(BundleTest, MissingOrBadFields) {
  for (const char* key : {"format", "kind", "architecture", "tokenizer", "max_length", "weights", "config"}) {
    save_builtin();
    json j = manifest();
    j.erase(key);
    set_manifest(j);
    expect_rejected("fathom.json", key, "missing");
  }
  save_builtin();
  json j = manifest();
  j["kind"] = "onnx";
  set_manifest(j);
  expect_rejected("fathom.json", "kind", "\"onnx\"");

  j = manifest();
  j["kind"] = "builtin";
  j["config"]["embedding_dim"] = "eight";
  set_manifest(j);
  expect_rejected("fathom.json", "config.embedding_dim", "expected an integer");

  j = manifest();
  j["config"]["embedding_dim"] = 8;
  j["config"]["heads"] = 3;
  set_manifest(j);
  expect_rejected("fathom.json", "config", "heads (3) must divide embedding_dim (8)");

  j = manifest();
  j["config"]["heads"] = 2;
  j["tokenizer"]["kind"] = "bpe";
  set_manifest(j);
  expect_rejected("fathom.json", "tokenizer", "bpe");

  j = manifest();
  j["tokenizer"]["kind"] = "word";
  j["max_length"] = 64;
  set_manifest(j);
  expect_rejected("fathom.json", "max_length", "exceeds the transformer's positions (config.max_length 16)");
}

TEST_F(BundleTest, VocabSizeMustMatchEmbeddingRows) {
  save_builtin();
  std::string vocab = slurp(file("vocab.txt"));
  if (!vocab.empty() && vocab.back() != '\n') vocab += '\n';
  spit(file("vocab.txt"), vocab + "zebra\n");
  expect_rejected("vocab.txt", "vocab_size", "tokens (lines) but the model's embedding matrix has");
}

TEST_F(BundleTest, LabelCountMustMatchLogitsWidth) {
  save_builtin();
  spit(file("labels.txt"), "neg\npos\n");
  expect_rejected("labels.txt", "num_labels", "2 labels (lines) but the model's logits have width 3");
  spit(file("labels.txt"), "neg\nneg\npos\n");
  expect_rejected("labels.txt", "label", "duplicate label 'neg'");
  spit(file("labels.txt"), "neg\nneu\npositive\n");
  expect_rejected("fathom.json", "labels", "differs from labels.txt");
}

TEST_F(BundleTest, CorruptWeightsAreNamed) {
  save_builtin();
  spit(file("weights.pt"), "not a pickle");
  expect_rejected("weights.pt", "", "not a fathom weights file");
}

// ---- TorchScript bundles ------------------------------------------------------
// Modules are defined in C++ with Module::define, so each test can omit a
// method or return a wrong shape, exactly like a broken export would.

struct ScriptSpec {
  std::int64_t vocab = 0, emb = 8, hidden = 6, labels = 3;
  bool has_classifier = true;
  std::string embed = "return torch.embedding(self.embeddings.weight, ids)";
  std::string features = "torch.tanh(torch.matmul(pooled, self.proj.t()))";
  std::string logits = "torch.matmul(features, self.classifier.weight.t()) + self.classifier.bias";
  std::string forward = "return self.forward_from_embeddings(self.embed(ids), mask, type_ids)[0]";
  std::vector<std::string> skip;  // methods left out
};

torch::jit::Module scripted(const ScriptSpec& s) {
  torch::manual_seed(5);
  torch::jit::Module m("FathomTestNet");
  torch::jit::Module embeddings("FathomTestEmbedding");
  embeddings.register_parameter("weight", torch::randn({s.vocab, s.emb}), false);
  m.register_module("embeddings", embeddings);
  m.register_parameter("proj", torch::randn({s.hidden, s.emb}) * 0.3, false);
  torch::jit::Module classifier("FathomTestLinear");
  classifier.register_parameter("weight", torch::randn({s.labels, s.hidden}), false);
  classifier.register_parameter("bias", torch::randn({s.labels}), false);
  m.register_module(s.has_classifier ? "classifier" : "head", classifier);
  std::string classifier_name = s.has_classifier ? "classifier" : "head";

  auto skip = [&](const std::string& name) { return std::count(s.skip.begin(), s.skip.end(), name) > 0; };
  std::string src;
  if (!skip("embedding_matrix")) src += "def embedding_matrix(self):\n    return self.embeddings.weight\n";
  if (!skip("embed")) src += "def embed(self, ids):\n    " + s.embed + "\n";
  if (!skip("forward_from_embeddings")) {
    std::string logits = s.logits;
    if (!s.has_classifier) logits = "torch.matmul(features, self.head.weight.t()) + self.head.bias";
    src +=
        "def forward_from_embeddings(self, emb, mask, type_ids):\n"
        "    m = mask.unsqueeze(-1).to(emb.dtype)\n"
        "    pooled = (emb * m).sum(1) / m.sum(1).clamp(min=1.0)\n"
        "    features = " + s.features + "\n"
        "    logits = " + logits + "\n"
        "    return logits, features\n";
  }
  // With another method missing, forward must not call it (or define() fails).
  std::string forward = s.skip.empty() ? s.forward : "return torch.zeros([ids.size(0), " + std::to_string(s.labels) + "])";
  if (!skip("forward")) src += "def forward(self, ids, mask, type_ids):\n    " + forward + "\n";
  m.define(src);
  return m;
}

class TorchScriptBundleTest : public BundleTest {
 protected:
  // Writes a torchscript bundle by hand, as an external exporter would.
  void write_bundle(const ScriptSpec& spec_in) {
    auto tok = tokenizer();
    ScriptSpec spec = spec_in;
    if (spec.vocab == 0) spec.vocab = tok.vocab_size();
    fs::create_directories(dir);
    scripted(spec).save(file("model.pt"));
    tok.save_vocab(file("vocab.txt"));
    spit(file("labels.txt"), "neg\nneu\npos\n");
    json j = {{"format", "fathom-bundle"},
              {"format_version", 1},
              {"kind", "torchscript"},
              {"architecture", "test-mean-pool"},
              {"tokenizer", json::parse(tok.options_json())},
              {"max_length", 32},
              {"weights", "model.pt"}};
    j["tokenizer"]["kind"] = "word";
    set_manifest(j);
  }
};

TEST_F(TorchScriptBundleTest, LoadsAndMatchesTheScriptedModule) {
  write_bundle({});
  Bundle b = load_bundle(dir);
  EXPECT_EQ(b.model->kind(), "torchscript");
  EXPECT_EQ(b.model->architecture(), "test-mean-pool");
  EXPECT_EQ(b.model->hidden_dim(), 6);
  EXPECT_EQ(b.model->num_labels(), 3);
  EXPECT_EQ(b.model->embedding_dim(), 8);
  auto groups = b.model->parameter_groups();
  EXPECT_EQ(groups["embeddings"], (std::vector<std::string>{"embeddings.weight"}));
  for (const auto& [name, t] : b.model->named_parameters()) EXPECT_TRUE(t.requires_grad()) << name;
  EXPECT_EQ(names_of(select_parameters(*b.model, "classifier")),
            (std::vector<std::string>{"classifier.weight", "classifier.bias"}));

  auto module = torch::jit::load(file("model.pt"));
  auto batch = testing::ragged_batch(b.model->vocab_size());
  torch::NoGradGuard no_grad;
  auto expected = module.forward({batch.ids, batch.mask, batch.type_ids}).toTensor();
  EXPECT_TRUE(torch::equal(b.model->forward(batch).logits, expected));
  // Undefined type ids are accepted (zeros).
  auto no_types = b.model->forward_from_embeddings(b.model->embed(batch.ids), batch.mask, torch::Tensor());
  EXPECT_TRUE(torch::equal(no_types.logits, expected));
}

TEST_F(TorchScriptBundleTest, GradientsFlowAndDoublePrecisionWorks) {
  write_bundle({});
  Bundle b = load_bundle(dir);
  b.model->to(torch::kCPU, torch::kDouble);
  auto batch = testing::ragged_batch(b.model->vocab_size());
  auto emb = b.model->embed(batch.ids).detach().requires_grad_(true);
  ASSERT_EQ(emb.scalar_type(), torch::kDouble);
  auto out = b.model->forward_from_embeddings(emb, batch.mask, batch.type_ids);
  auto g = torch::autograd::grad({out.logits.sum()}, {emb})[0];
  EXPECT_GT(g.abs().sum().item<double>(), 0.0);
}

TEST_F(TorchScriptBundleTest, SaveBundleRoundTrip) {
  write_bundle({});
  Bundle b = load_bundle(dir);
  std::string copy = dir + "_copy";
  BundleInfo info = b.info;
  info.weights_file.clear();
  save_bundle(copy, *b.model, *b.tokenizer, info);
  Bundle again = load_bundle(copy);
  auto batch = testing::ragged_batch(b.model->vocab_size());
  EXPECT_EQ(again.info.kind, "torchscript");
  EXPECT_EQ(again.info.weights_file, "model.pt");
  EXPECT_TRUE(torch::equal(run(*b.model, batch).logits, run(*again.model, batch).logits));
  fs::remove_all(copy);
}

TEST_F(TorchScriptBundleTest, MissingMethodIsNamed) {
  for (const std::string method : {"embed", "forward_from_embeddings", "forward", "embedding_matrix"}) {
    ScriptSpec s;
    s.skip = {method};
    write_bundle(s);
    expect_rejected("model.pt", method, "the TorchScript module has no method '" + method + "'");
  }
}

TEST_F(TorchScriptBundleTest, MissingClassifierParameters) {
  ScriptSpec s;
  s.has_classifier = false;
  write_bundle(s);
  expect_rejected("model.pt", "classifier.weight", "missing parameter");
}

TEST_F(TorchScriptBundleTest, WrongShapesOnTheProbeBatch) {
  struct Case {
    std::string ScriptSpec::*method;  // the one piece of TorchScript that is wrong
    std::string code;
    std::string field, message;
  };
  const std::vector<Case> cases = {
      // [B,E] = [2,8], not [2,H]; the classifier then fails
      {&ScriptSpec::features, "torch.tanh(pooled)", "forward_from_embeddings",
       "failed on a probe batch of 2x4 tokens"},
      {&ScriptSpec::logits, "(torch.matmul(features, self.classifier.weight.t()) + self.classifier.bias)[:, :2]",
       "forward_from_embeddings", "logits (labels.txt has 3 labels) has shape [2, 2]"},
      {&ScriptSpec::embed, "return torch.embedding(self.embeddings.weight, ids).sum(1)", "embed",
       "has shape [2, 8] on a probe batch of 2x4 tokens, expected [2, 4, 8]"},
      {&ScriptSpec::logits, "torch.matmul(features, self.classifier.weight.t()) * 2.0 + self.classifier.bias",
       "forward_from_embeddings", "features @ classifier.weight^T + classifier.bias"},
      {&ScriptSpec::forward, "return self.forward_from_embeddings(self.embed(ids), mask, type_ids)[0][:, :1]",
       "forward", "logits has shape [2, 1]"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.code);
    ScriptSpec spec;
    spec.*c.method = c.code;
    write_bundle(spec);
    expect_rejected("model.pt", c.field, c.message);
  }
}

TEST_F(TorchScriptBundleTest, VocabAndLabelMismatches) {
  ScriptSpec s;
  s.vocab = tokenizer().vocab_size() + 3;
  write_bundle(s);
  expect_rejected("vocab.txt", "vocab_size", "rows");

  write_bundle({});
  spit(file("labels.txt"), "a\nb\nc\nd\n");
  expect_rejected("labels.txt", "num_labels", "4 labels (lines) but the model's logits have width 3");

  write_bundle({});
  spit(file("model.pt"), "garbage");
  expect_rejected("model.pt", "", "not a TorchScript module");
}

}  // namespace
}  // namespace fathom::model
