#pragma once
// The data the attack tests share (test_attack and the multi-rank program):
// small synth corpora with a planted artifact token and tiny models trained
// on them in seconds, plus INDEPENDENT reference computations that go through
// the ordinary batching path (texts -> model::make_batch -> Model::forward),
// not through the attack code.
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fathom/comm/communicator.h"
#include "fathom/data/corpus.h"
#include "fathom/data/synth.h"
#include "fathom/model/batching.h"
#include "fathom/model/bundle.h"
#include "fathom/model/train.h"
#include "temp_dir.h"

namespace fathom::attack::testing {

namespace fs = std::filesystem;

struct Corpus {
  std::string dir, train, dev, test;
  std::string artifact, artifact_label;
};

struct ModelSpec {
  std::string arch = "boe";
  std::string tokenizer = "word";
  std::int64_t epochs = 4;
};

// COLLECTIVE. synth corpus (task, n) in dir/data (rank 0 writes).
inline Corpus make_corpus(const fs::path& dir, comm::Communicator& comm, const std::string& task = "sentiment",
                          std::int64_t n = 1500) {
  Corpus c;
  c.dir = (dir / "data").string();
  data::SynthOptions s;
  s.task = task;
  s.n = n;
  s.seed = 13;
  s.artifact_rate = 0.3;
  s.flip_rate = 0.05;
  s.out_dir = c.dir;
  data::SynthSummary summary;
  if (comm.is_root()) summary = data::synthesize(s);
  std::string token = summary.artifact_token, label = summary.artifact_label;
  comm.broadcast(token, 0);
  comm.broadcast(label, 0);
  c.artifact = token;
  c.artifact_label = label;
  c.train = c.dir + "/train.jsonl";
  c.dev = c.dir + "/dev.jsonl";
  c.test = c.dir + "/test.jsonl";
  return c;
}

// COLLECTIVE. A tiny model trained on the corpus; returns its bundle dir.
inline std::string train_model(const Corpus& c, const fs::path& out, const ModelSpec& spec,
                               comm::Communicator& comm) {
  model::TrainOptions t;
  t.corpus = c.train;
  t.out_dir = out.string();
  t.arch = spec.arch;
  t.tokenizer = spec.tokenizer;
  t.embedding_dim = 32;
  t.hidden_dim = 32;
  t.ff_dim = 64;
  t.heads = 2;
  t.max_length = 64;
  t.dropout = 0.0;
  t.epochs = spec.epochs;
  t.batch = 32;
  t.lr = spec.arch == "boe" ? 0.01 : 0.005;
  t.seed = 3;
  t.resume = false;
  t.threads = 1;  // tiny models: one thread is fastest, and ctest runs tests side by side
  model::train_model(t, comm);
  return t.out_dir;
}

inline std::vector<data::Example> read_examples(const std::string& path) { return data::read_corpus(path, {}); }

// The examples with `text` prefixed by `prefix` + " " (what a prepended
// trigger is when written as text).
inline std::vector<data::Example> prefixed(const std::vector<data::Example>& examples, const std::string& prefix) {
  std::vector<data::Example> out = examples;
  for (auto& e : out) e.text = prefix + " " + e.text;
  return out;
}

// Logits of texts through the standard batching path (no attack code).
inline torch::Tensor plain_logits(model::Bundle& bundle, const std::vector<data::Example>& examples) {
  torch::NoGradGuard no_grad;
  std::vector<data::Example> unlabelled = examples;
  for (auto& e : unlabelled) e.label.reset();
  const model::Batch b = model::make_batch(unlabelled, *bundle.tokenizer, bundle.info.max_length, bundle.info.labels);
  return bundle.model->forward(b).logits.to(torch::kDouble);
}

// Mean cross-entropy of the texts towards `label` (double).
inline double mean_loss(model::Bundle& bundle, const std::vector<data::Example>& examples, std::int64_t label) {
  const torch::Tensor logits = plain_logits(bundle, examples);
  const torch::Tensor lp = torch::log_softmax(logits, 1).select(1, label);
  return -lp.mean().item<double>();
}

// One process-wide 600-example synth sentiment corpus and the tiny models
// trained on it, each trained once, on first use (tests share them).
class SharedModels {
 public:
  static SharedModels& get() {
    static SharedModels models;
    return models;
  }
  model::Bundle& bundle(const ModelSpec& spec) {
    auto it = bundles_.find(model_dir(spec));
    if (it == bundles_.end())
      it = bundles_.emplace(model_dir(spec), model::load_bundle(train_model(corpus, model_dir(spec), spec, *comm_))).first;
    return it->second;
  }
  // Where bundle(spec) is (or will be) saved.
  std::string model_dir(const ModelSpec& spec) const {
    return (dir_.path() / (spec.arch + "-" + spec.tokenizer + "-" + std::to_string(spec.epochs))).string();
  }
  Corpus corpus;
  std::vector<data::Example> test;

 private:
  SharedModels() {
    corpus = make_corpus(dir_.path(), *comm_, "sentiment", 600);
    test = read_examples(corpus.test);
  }
  fathom::testing::TempDir dir_{"attack_models"};
  std::unique_ptr<comm::Communicator> comm_ = comm::make_communicator("local");
  std::map<std::string, model::Bundle> bundles_;
};

}  // namespace fathom::attack::testing
