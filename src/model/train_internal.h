#pragma once
// Private helpers of training and prediction (src/model/train*.cpp,
// checkpoint.cpp, predict.cpp). Not installed, not a contract.
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fathom/comm/collective_check.h"
#include "fathom/comm/communicator.h"
#include "fathom/data/example.h"
#include "fathom/data/shard.h"
#include "fathom/data/tokenizer.h"
#include "fathom/model/model.h"
#include "fathom/model/train.h"

namespace fathom::model {

// ---- inputs (train_setup.cpp) ---------------------------------------------
// Throws UsageError naming the first bad option.
void validate_train_options(const TrainOptions& options);

struct TrainData {
  std::vector<data::Example> train;  // whole training corpus, on every rank
  std::vector<data::Example> dev;    // whole dev corpus (empty without one)
  std::vector<std::string> labels;   // class i = labels[i]
  std::shared_ptr<data::Tokenizer> tokenizer;
};
// COLLECTIVE. Every rank reads the corpora; rank 0 builds (or reads) the
// vocabulary and broadcasts its tokens.
TrainData load_train_data(const TrainOptions& options, comm::Communicator& comm);

// ---- configuration (train_config.cpp) ------------------------------------
std::string config_hash(const std::string& config_json);
// "key was X, now Y; ..." for every top-level key that differs ("" if none
// or if either side is not a JSON object).
std::string config_difference(const std::string& old_json, const std::string& new_json);

// ---- checkpoints (checkpoint.cpp) -----------------------------------------
// Deletes checkpoints/.epoch-*.tmp.* / .old.* left by a killed run.
void remove_stale_temporaries(const std::string& out_dir);

// ---- randomness (train_shuffle.cpp) ----------------------------------------
// Seed of torch's global generator (dropout) for one epoch.
std::uint64_t dropout_seed(std::uint64_t seed, std::int64_t epoch);

// ---- collectives (train_collective.cpp) -----------------------------------
// Error propagation lives in comm (collective_check.h).
using comm::collective_check;
using comm::on_root;
// COLLECTIVE. Copies rank 0's values of `params` to every rank.
void broadcast_tensors(comm::Communicator& comm, const std::vector<torch::Tensor>& tensors);
comm::DType comm_dtype(torch::ScalarType t);

// ---- the data-parallel step (train_step.cpp) ------------------------------
// Gradients of all parameters live in one flat buffer (each param.grad() is a
// view into it), so the all-reduce needs no packing or unpacking; two extra
// slots carry the batch's loss sum and correct count.
class GradientReducer {
 public:
  GradientReducer(std::vector<torch::Tensor> params, torch::Tensor classifier_weight, double l2_last);
  struct Stats {
    double loss_sum = 0;        // summed cross-entropy over the global batch
    std::int64_t correct = 0;   // argmax == label over the global batch
  };
  // COLLECTIVE. Back-propagates the summed loss of this rank's slice (`local`
  // may be empty; rows labelled data::kNoLabel add no loss), sums gradients
  // over ranks, divides by global_count and adds the l2_last penalty's
  // gradient. Leaves the result in param.grad().
  Stats compute(Model& model, const Batch& local, std::int64_t global_count, comm::Communicator& comm);

 private:
  void attach_views();
  std::vector<torch::Tensor> params_;
  std::vector<torch::Tensor> views_;
  torch::Tensor flat_;  // [P + 2]
  std::int64_t numel_ = 0;
  torch::Tensor classifier_weight_;
  double l2_last_;
};

struct EvalStats {
  std::int64_t count = 0;
  double loss_sum = 0;
  std::int64_t correct = 0;
  double loss() const { return count ? loss_sum / double(count) : 0.0; }
  double accuracy() const { return count ? double(correct) / double(count) : 0.0; }
};

// COLLECTIVE. Loss and accuracy over `examples` (all ranks hold the same
// vector; each evaluates its shard_range share in batches of `batch`) in
// eval mode without gradients; sums all-reduced. Restores the training mode.
EvalStats evaluate(Model& model, const std::vector<data::Example>& examples, const data::Tokenizer& tokenizer,
                   std::int64_t max_length, const std::vector<std::string>& labels, std::int64_t batch,
                   comm::Communicator& comm);

}  // namespace fathom::model
