// Reading and checking what `fathom lds` works on, and full retraining with
// the bundle's recipe (lds_internal.h).
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>

#include "fathom/attrib/query_features.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/core/hash.h"
#include "fathom/core/log.h"
#include "fathom/model/checkpoint.h"
#include "lds_internal.h"

namespace fathom::attrib::detail {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The examples of `path` named by `ids`, in that order; InputError for an id
// the corpus lacks. Returns how many records were not named in *unused.
std::vector<data::Example> examples_by_id(const std::string& path, const data::CorpusOptions& options,
                                          const std::vector<std::string>& ids, const std::string& scores,
                                          std::int64_t* unused) {
  std::vector<data::Example> all = data::read_corpus(path, options);
  std::map<std::string, std::size_t> where;
  for (std::size_t i = 0; i < all.size(); ++i) where.emplace(all[i].id, i);
  std::vector<data::Example> out;
  out.reserve(ids.size());
  for (const auto& id : ids) {
    auto it = where.find(id);
    if (it == where.end())
      throw InputError(path, 0, "id",
                       "no record with id '" + id + "', which the score matrix " + scores +
                           " names (were the scores computed on another corpus?)");
    out.push_back(all[it->second]);
  }
  *unused = std::int64_t(all.size()) - std::int64_t(ids.size());
  return out;
}

// The training recipe of the newest checkpoint, or nullopt (with the reason
// logged) when there is none.
std::optional<model::TrainOptions> read_recipe(const model::Bundle& bundle) {
  std::vector<model::CheckpointInfo> checkpoints;
  try {
    checkpoints = model::list_checkpoints(bundle.dir);
  } catch (const InputError& e) {
    spdlog::debug("lds: no training recipe in {}: {}", bundle.dir, e.what());
    return std::nullopt;
  }
  if (checkpoints.empty()) return std::nullopt;
  const model::CheckpointState state = model::read_checkpoint_state(checkpoints.back().path);
  const json c = json::parse(state.config_json, nullptr, false);
  if (!c.is_object()) return std::nullopt;
  model::TrainOptions t;
  try {
    t.arch = c.at("arch").get<std::string>();
    t.tokenizer = c.at("tokenizer").get<std::string>();
    t.lowercase = c.at("lowercase").get<bool>();
    t.min_count = c.at("min_count").get<std::int64_t>();
    t.max_vocab = c.at("max_vocab").get<std::int64_t>();
    t.max_length = c.at("max_length").get<std::int64_t>();
    t.embedding_dim = c.at("embedding_dim").get<std::int64_t>();
    t.hidden_dim = c.at("hidden_dim").get<std::int64_t>();
    t.layers = c.at("layers").get<std::int64_t>();
    t.heads = c.at("heads").get<std::int64_t>();
    t.ff_dim = c.at("ff_dim").get<std::int64_t>();
    t.dropout = c.at("dropout").get<double>();
    t.optimizer = c.at("optimizer").get<std::string>();
    t.lr = c.at("lr").get<double>();
    t.weight_decay = c.at("weight_decay").get<double>();
    t.l2_last = c.at("l2_last").get<double>();
    t.batch = c.at("batch").get<std::int64_t>();
    t.seed = c.at("seed").get<std::uint64_t>();
  } catch (const json::exception& e) {
    throw InputError(checkpoints.back().path + "/state.json", 0, "config", e.what());
  }
  t.epochs = state.epoch;
  return t;
}

}  // namespace

LdsInputs load_lds_inputs(const LdsOptions& o) {
  LdsInputs in;
  in.bundle = model::load_bundle(o.model_dir);
  in.scores = read_score_matrix(o.scores);
  if (in.scores.query_ids.empty()) throw InputError(o.scores, 0, "query_ids", "the score matrix has no queries");
  if (in.scores.train_ids.size() < 2) throw InputError(o.scores, 0, "train_ids", "the score matrix has < 2 training rows");
  in.train_examples = examples_by_id(o.corpus, o.corpus_options, in.scores.train_ids, o.scores, &in.unused_train_records);
  std::int64_t unused_queries = 0;
  in.query_examples = examples_by_id(o.queries, o.query_options, in.scores.query_ids, o.scores, &unused_queries);
  in.train_labels.resize(in.train_examples.size());
  for (std::size_t i = 0; i < in.train_examples.size(); ++i) {
    const auto& e = in.train_examples[i];
    if (!e.label) throw InputError(o.corpus, e.line, "label", "training record '" + e.id + "' has no label");
    in.train_labels[i] = in.bundle.label_index(*e.label);
    if (in.train_labels[i] == data::kNoLabel)
      throw InputError(o.corpus, e.line, "label", "'" + *e.label + "' is not a label of the model " + o.model_dir);
  }
  in.corpus_sha256 = sha256_file(o.corpus);
  in.queries_sha256 = sha256_file(o.queries);
  if (in.bundle.info.kind == "builtin") in.recipe = read_recipe(in.bundle);
  if (in.recipe) in.training_l2_last = in.recipe->l2_last;
  if (o.retrain == "full" && !in.recipe)
    throw UsageError("lds: --retrain full needs a built-in model bundle with its training checkpoints (" + o.model_dir +
                     "/checkpoints); use --retrain head");
  return in;
}

FullRetrainer::FullRetrainer(const LdsInputs& in, const LdsOptions& o, std::string work_dir)
    : in_(&in), o_(&o), work_(std::move(work_dir)) {
  if (!in.recipe) throw UsageError("lds: --retrain full needs the bundle's training recipe");
}

std::vector<double> FullRetrainer::logits(std::int64_t m, const std::vector<std::int64_t>& rows) {
  const fs::path dir = fs::path(work_) / ("model-" + std::to_string(m));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string corpus = (dir / "train.jsonl").string();
  {
    std::ofstream out(corpus);
    for (std::int64_t i : rows) {
      const data::Example& e = in_->train_examples[std::size_t(i)];
      json j{{"id", e.id}, {"text", e.text}, {"label", *e.label}};
      if (e.text_pair) j["text_pair"] = *e.text_pair;
      out << j.dump() << "\n";
    }
    if (!out) throw Error("lds: cannot write " + corpus);
  }
  model::TrainOptions t = *in_->recipe;
  t.corpus = corpus;
  t.dev.clear();
  t.out_dir = (dir / "model").string();
  t.vocab = (fs::path(in_->bundle.dir) / "vocab.txt").string();  // the same vocabulary as the model
  t.labels = in_->bundle.info.labels;
  t.corpus_options = data::CorpusOptions{};
  t.corpus_options.format = "jsonl";
  t.threads = o_->threads;
  t.resume = false;
  auto local = comm::make_communicator("local");
  model::train_model(t, *local);
  model::Bundle retrained = model::load_bundle(t.out_dir);
  const QueryFeatures qf = compute_features_local(retrained, in_->query_examples, o_->batch);
  const torch::Tensor z = qf.logits.to(torch::kDouble).contiguous();
  std::vector<double> out(z.data_ptr<double>(), z.data_ptr<double>() + z.numel());
  fs::remove_all(dir);
  return out;
}

}  // namespace fathom::attrib::detail
