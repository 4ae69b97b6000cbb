#pragma once
// Per-epoch training checkpoints: resume and TracIn (METHODS.md §1.5, which
// sums over checkpoints theta_k with their learning rates eta_k).
//
// Layout: <out_dir>/checkpoints/epoch-K/ (K = 1-based epoch, no padding)
//   weights.pt    Model::save_weights of the parameters after epoch K
//   optimizer.pt  torch::save of the optimizer (Adam moments, step counts)
//   state.json    {"format": "fathom-checkpoint", "format_version": 1,
//                  "epoch": K, "lr": <lr used in epoch K>,
//                  "config_hash": <sha256 of "config">, "config": {...},
//                  "rng": {"kind": "splitmix64", "seed": S, "next_epoch": K+1},
//                  "metrics": [<metrics.jsonl line of epochs 1..K>...]}
// The directory is assembled as checkpoints/.epoch-K.tmp.<pid> and renamed
// into place, so an epoch-K directory that exists is complete; leftovers of a
// killed run (".epoch-*.tmp.*") are ignored and removed by the next run.
// Randomness needs no saved generator state: shuffling and dropout are
// reseeded from (seed, epoch) at the start of each epoch, and "rng" records
// that.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fathom/model/model.h"
#include "fathom/model/train.h"

namespace fathom::model {

inline constexpr int kCheckpointFormatVersion = 1;

struct CheckpointInfo {
  std::string path;         // the epoch-K directory
  std::string weights;      // path/weights.pt, for Model::load_weights
  std::int64_t epoch = 0;
  double lr = 0;            // learning rate used during epoch K (TracIn's eta_k)
  std::string config_hash;
};

// Complete checkpoints under out_dir/checkpoints, ascending by epoch; empty
// if there are none. Throws InputError for an unreadable or malformed
// state.json (naming the file and field).
std::vector<CheckpointInfo> list_checkpoints(const std::string& out_dir);

struct CheckpointState {
  std::int64_t epoch = 0;
  double lr = 0;
  std::uint64_t seed = 0;
  std::string config_json;               // canonical JSON (train_config_json)
  std::vector<EpochMetrics> metrics;     // epochs 1..epoch
};

// Call on ONE rank. Writes checkpoints/epoch-<state.epoch> atomically
// (replacing an existing one) and returns its info.
CheckpointInfo save_checkpoint(const std::string& out_dir, const CheckpointState& state, Model& model,
                               torch::optim::Optimizer& optimizer);

// Reads state.json of a checkpoint directory.
CheckpointState read_checkpoint_state(const std::string& checkpoint_dir);

// Loads weights (and the optimizer state when optimizer != nullptr).
void load_checkpoint(const CheckpointInfo& checkpoint, Model& model, torch::optim::Optimizer* optimizer);

// Removes out_dir/checkpoints entirely (starting over).
void remove_checkpoints(const std::string& out_dir);

}  // namespace fathom::model
