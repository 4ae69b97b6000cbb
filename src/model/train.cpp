// train_model: the epoch loop and its bookkeeping (resume, metrics,
// checkpoints, bundle). The pieces live in train_setup.cpp (inputs),
// train_step.cpp (data-parallel gradients, evaluation) and checkpoint.cpp.
#include "fathom/model/train.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"
#include "fathom/core/log.h"
#include "fathom/core/progress.h"
#include "fathom/model/batching.h"
#include "fathom/model/builtin.h"
#include "fathom/model/bundle.h"
#include "fathom/model/checkpoint.h"
#include "train_internal.h"

namespace fathom::model {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

BuiltinConfig builtin_config(const TrainOptions& o, const TrainData& d) {
  BuiltinConfig c;
  c.architecture = o.arch;
  c.vocab_size = d.tokenizer->vocab_size();
  c.num_labels = std::int64_t(d.labels.size());
  c.embedding_dim = o.embedding_dim;
  c.hidden_dim = o.hidden_dim;
  c.layers = o.layers;
  c.heads = o.heads;
  c.ff_dim = o.ff_dim;
  c.max_length = o.max_length;
  c.dropout = o.dropout;
  c.pad_id = d.tokenizer->pad_id();
  c.seed = o.seed;
  return c;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainOptions& o, const std::vector<torch::Tensor>& params) {
  if (o.optimizer == "sgd")
    return std::make_unique<torch::optim::SGD>(params, torch::optim::SGDOptions(o.lr).weight_decay(o.weight_decay));
  return std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay));
}

double current_lr(torch::optim::Optimizer& opt) { return opt.param_groups().front().options().get_lr(); }

// Where training starts: decided on rank 0, which owns out_dir.
struct ResumePlan {
  std::int64_t start_epoch = 0;         // last completed epoch (0 = fresh)
  std::string checkpoint;               // its directory
  std::vector<EpochMetrics> history;    // metrics of epochs 1..start_epoch
};

ResumePlan plan_on_root(const TrainOptions& o, const std::string& config_json) {
  ResumePlan plan;
  fs::create_directories(o.out_dir);
  remove_stale_temporaries(o.out_dir);
  if (!o.resume) {
    remove_checkpoints(o.out_dir);
    fs::remove(fs::path(o.out_dir) / "metrics.jsonl");
    return plan;
  }
  const auto checkpoints = list_checkpoints(o.out_dir);
  if (checkpoints.empty()) return plan;
  const std::string hash = config_hash(config_json);
  for (const auto& c : checkpoints) {
    if (c.config_hash == hash) continue;
    const std::string diff = config_difference(read_checkpoint_state(c.path).config_json, config_json);
    throw UsageError("train: " + c.path + " was written by a different training configuration (checkpoint " +
                     c.config_hash.substr(0, 12) + ", this run " + hash.substr(0, 12) + ")" +
                     (diff.empty() ? "" : ": " + diff) +
                     ". Rerun with --no-resume to start over in " + o.out_dir + ", or choose another --out.");
  }
  // Newest checkpoint not beyond the requested epochs (a shorter rerun
  // rebuilds the bundle from an earlier epoch).
  for (auto it = checkpoints.rbegin(); it != checkpoints.rend(); ++it) {
    if (it->epoch > o.epochs) continue;
    plan.start_epoch = it->epoch;
    plan.checkpoint = it->path;
    plan.history = read_checkpoint_state(it->path).metrics;
    break;
  }
  return plan;
}

// COLLECTIVE: rank 0 decides, every rank gets the plan.
// config_json is filled on rank 0 only (it hashes the corpus there).
ResumePlan plan_resume(const TrainOptions& o, std::string& config_json, comm::Communicator& comm) {
  ResumePlan plan;
  on_root(comm, "checking " + o.out_dir + " for checkpoints", [&] {
    config_json = train_config_json(o);
    plan = plan_on_root(o, config_json);
  });
  std::string wire;
  if (comm.is_root()) {
    nlohmann::json j{{"start", plan.start_epoch}, {"checkpoint", plan.checkpoint}, {"history", nlohmann::json::array()}};
    for (const auto& m : plan.history) j["history"].push_back(nlohmann::json::parse(epoch_metrics_json(m)));
    wire = j.dump();
  }
  comm.broadcast(wire, 0);
  if (!comm.is_root()) {
    auto j = nlohmann::json::parse(wire);
    plan.start_epoch = j["start"].get<std::int64_t>();
    plan.checkpoint = j["checkpoint"].get<std::string>();
    for (const auto& m : j["history"]) plan.history.push_back(epoch_metrics_from_json(m.dump(), "<broadcast>"));
  }
  return plan;
}

// COLLECTIVE. Rank 0 reads the checkpoint; weights and optimizer state are
// broadcast, so other ranks need no shared file system.
void restore(const ResumePlan& plan, Model& model, const std::vector<torch::Tensor>& params,
             torch::optim::Optimizer& optimizer, comm::Communicator& comm) {
  std::string optimizer_bytes;
  on_root(comm, "loading checkpoint " + plan.checkpoint, [&] {
    model.load_weights((fs::path(plan.checkpoint) / "weights.pt").string());
    optimizer_bytes = read_file((fs::path(plan.checkpoint) / "optimizer.pt").string());
  });
  broadcast_tensors(comm, params);
  comm.broadcast(optimizer_bytes, 0);
  std::istringstream in(optimizer_bytes);
  torch::load(optimizer, in);
}

void write_metrics(const std::string& out_dir, const std::vector<EpochMetrics>& history) {
  std::string text;
  for (const auto& m : history) (text += epoch_metrics_json(m)) += '\n';
  write_file_atomic((fs::path(out_dir) / "metrics.jsonl").string(), text);
}

// COLLECTIVE. One epoch of data-parallel training; returns the summed loss.
double train_epoch(const TrainOptions& o, const TrainData& d, std::int64_t epoch, Model& model,
                   torch::optim::Optimizer& optimizer, GradientReducer& reducer, comm::Communicator& comm) {
  const std::int64_t n = std::int64_t(d.train.size());
  const std::vector<std::int64_t> order = epoch_permutation(n, o.seed, epoch);
  torch::manual_seed(dropout_seed(o.seed, epoch));
  model.train(true);
  Progress progress("epoch " + std::to_string(epoch) + "/" + std::to_string(o.epochs), n, "ex");
  double loss_sum = 0;
  std::vector<data::Example> slice;
  std::vector<std::int64_t> rows;
  for (std::int64_t begin = 0; begin < n; begin += o.batch) {
    const std::int64_t global = std::min(o.batch, n - begin);
    const data::Range mine = data::shard_range(global, comm.rank(), comm.size());
    slice.clear();
    rows.clear();
    for (std::int64_t i = begin + mine.begin; i < begin + mine.end; ++i) {
      rows.push_back(order[std::size_t(i)]);
      slice.push_back(d.train[std::size_t(rows.back())]);
    }
    const Batch local = slice.empty() ? Batch{} : make_batch(slice, *d.tokenizer, o.max_length, d.labels, rows);
    loss_sum += reducer.compute(model, local, global, comm).loss_sum;
    optimizer.step();
    progress.advance(global);
  }
  progress.finish();
  return loss_sum;
}

// Every parameter (the optimizer's list) and the last layer's weight, which
// the --l2-last penalty applies to.
struct TrainableParameters {
  std::vector<torch::Tensor> all;
  torch::Tensor classifier_weight;
};

TrainableParameters trainable_parameters(Model& model) {
  TrainableParameters t;
  for (auto& [name, p] : model.named_parameters()) {
    t.all.push_back(p);
    if (name == "classifier.weight") t.classifier_weight = p;
  }
  if (!t.classifier_weight.defined()) throw Error("train: model has no classifier.weight");
  return t;
}

// COLLECTIVE. One epoch of training, then the dev evaluation (if any).
EpochMetrics run_epoch(const TrainOptions& o, const TrainData& d, std::int64_t epoch, Model& model,
                       torch::optim::Optimizer& optimizer, GradientReducer& reducer, comm::Communicator& comm) {
  const auto t0 = Clock::now();
  EpochMetrics m;
  m.epoch = epoch;
  m.lr = current_lr(optimizer);
  m.train_loss = train_epoch(o, d, epoch, model, optimizer, reducer, comm) / double(d.train.size());
  m.examples_per_s = double(d.train.size()) / std::max(seconds_since(t0), 1e-9);
  if (!d.dev.empty()) {
    const EvalStats dev = evaluate(model, d.dev, *d.tokenizer, o.max_length, d.labels, o.batch, comm);
    m.dev_loss = dev.loss();
    m.dev_accuracy = dev.accuracy();
  }
  m.seconds = seconds_since(t0);
  return m;
}

// COLLECTIVE. Rank 0 writes the epoch's checkpoint and metrics.jsonl (the
// resume point after a kill), then logs the epoch.
void checkpoint_epoch(const TrainOptions& o, const std::string& config_json, const std::vector<EpochMetrics>& history,
                      Model& model, torch::optim::Optimizer& optimizer, comm::Communicator& comm) {
  const EpochMetrics& m = history.back();
  on_root(comm, "writing the epoch " + std::to_string(m.epoch) + " checkpoint", [&] {
    CheckpointState state;
    state.epoch = m.epoch;
    state.lr = m.lr;
    state.seed = o.seed;
    state.config_json = config_json;
    state.metrics = history;
    save_checkpoint(o.out_dir, state, model, optimizer);
    write_metrics(o.out_dir, history);
    spdlog::info("epoch {}/{}: train_loss {:.4f}{} {:.0f} ex/s, {:.1f}s", m.epoch, o.epochs, m.train_loss,
                 m.dev_accuracy ? fmt::format(", dev_loss {:.4f}, dev_accuracy {:.4f},", *m.dev_loss, *m.dev_accuracy)
                                : std::string(","),
                 m.examples_per_s, m.seconds);
  });
}

// COLLECTIVE. Rank 0 writes metrics.jsonl and the model bundle.
void save_trained_bundle(const TrainOptions& o, const TrainData& d, const BuiltinConfig& config, Model& model,
                         const std::vector<EpochMetrics>& history, comm::Communicator& comm) {
  on_root(comm, "writing the model bundle to " + o.out_dir, [&] {
    // A resumed run that had nothing left to do still rewrites metrics.jsonl
    // (dropping lines of epochs after its checkpoint) and the bundle.
    write_metrics(o.out_dir, history);
    BundleInfo info;
    info.kind = "builtin";
    info.architecture = o.arch;
    info.tokenizer_kind = d.tokenizer->kind();
    info.tokenizer_options_json = d.tokenizer->options_json();
    info.max_length = o.max_length;
    info.labels = d.labels;
    info.config_json = config.to_json();
    info.weights_file = "weights.pt";
    save_bundle(o.out_dir, model, *d.tokenizer, info);
  });
}

}  // namespace

TrainResult train_model(const TrainOptions& o, comm::Communicator& comm) {
  validate_train_options(o);
  configure_threads(o.threads);
  TrainData d = load_train_data(o, comm);
  const BuiltinConfig config = builtin_config(o, d);
  std::shared_ptr<Model> model = make_builtin(config);
  TrainableParameters params = trainable_parameters(*model);
  auto optimizer = make_optimizer(o, params.all);

  std::string config_json;
  ResumePlan plan = plan_resume(o, config_json, comm);
  if (plan.start_epoch > 0)
    restore(plan, *model, params.all, *optimizer, comm);
  else
    broadcast_tensors(comm, params.all);  // same seed gives the same init; make it certain
  if (comm.is_root() && plan.start_epoch > 0)
    spdlog::info("train: resuming after epoch {} from {}", plan.start_epoch, plan.checkpoint);

  GradientReducer reducer(params.all, params.classifier_weight, o.l2_last);
  TrainResult result;
  result.resumed_from = plan.start_epoch;
  result.train_examples = std::int64_t(d.train.size());
  result.bundle_dir = o.out_dir;
  result.epochs = plan.history;
  double trained = 0, train_seconds = 0;
  for (std::int64_t epoch = plan.start_epoch + 1; epoch <= o.epochs; ++epoch) {
    result.epochs.push_back(run_epoch(o, d, epoch, *model, *optimizer, reducer, comm));
    trained += double(d.train.size());
    train_seconds += double(d.train.size()) / result.epochs.back().examples_per_s;
    checkpoint_epoch(o, config_json, result.epochs, *model, *optimizer, comm);
  }
  if (!result.epochs.empty()) result.dev_accuracy = result.epochs.back().dev_accuracy;
  result.examples_per_s = train_seconds > 0 ? trained / train_seconds : 0.0;
  save_trained_bundle(o, d, config, *model, result.epochs, comm);
  return result;
}

}  // namespace fathom::model
