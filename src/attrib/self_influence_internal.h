#pragma once
// Private to attrib: the pieces self_influence() (self_influence.h) is made
// of — resume files (self_influence_work.cpp), training-row gradients, and the
// TracIn pass over checkpoints (tracin.cpp).
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fathom/attrib/self_influence.h"
#include "fathom/data/shard.h"
#include "fathom/grads/per_example.h"
#include "fathom/model/checkpoint.h"
#include "influence_internal.h"

namespace fathom::comm {
class Communicator;
}
namespace fathom {
class Progress;
}

namespace fathom::attrib::detail {

// One rank's resume state: `done` units of work finished and the values they
// produced. Stored as <dir>/rank-R-of-S.bin with the settings `key`; a file
// of other settings (or none) loads as nothing done.
struct WorkState {
  std::int64_t done = 0;
  std::vector<double> values;
};

class WorkFile {
 public:
  // enabled = false: load() is empty and nothing is ever written.
  WorkFile(std::string dir, std::string key, int rank, int size, bool enabled, double period_s);
  // Any rank, no communication. `expected_values` must match the file's, or it is ignored.
  WorkState load(std::size_t expected_values) const;
  // Saves (atomically) when `period_s` has passed since the last save, or when forced.
  void maybe_save(std::int64_t done, const std::vector<double>& values, bool force = false);
  // Removes the whole directory (call on one rank, after the outputs exist).
  void remove_all() const;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_, key_, file_;
  bool enabled_;
  double period_s_;
  double last_save_s_;
};

// Per-example gradients at the GOLD label of training rows [begin, end), as
// a float64 CPU [end - begin, P] tensor (every row must have a label).
torch::Tensor training_gradients(grads::PerExampleGradients& gradients, const TrainingRows& rows,
                                 std::int64_t begin, std::int64_t end);

// The TracIn pass: for each checkpoint k (loaded into the model in turn),
// this rank's rows [shard.begin, shard.end) in batches; the self score and,
// with queries, the query scores accumulate η_k-weighted dot products.
struct TracinScores {
  std::vector<model::CheckpointInfo> checkpoints;
  std::vector<double> self;     // [shard rows]
  std::vector<double> cross;    // [Q, shard rows] row-major; empty without queries
  std::int64_t resumed = 0;     // (checkpoint, row) units taken from the work file
  double newest_checkpoint_difference = 0;  // max |θ_K − θ_model| over all parameters
};
// ANY RANK, no communication (each rank its own shard). `query_labels` [Q]
// are the labels the query losses use (fixed for every checkpoint).
// `progress` advances by rows × `progress_scale` per batch.
TracinScores tracin_scores(const SelfInfluenceOptions& o, InfluenceInputs& in, const data::Range& shard,
                           const std::vector<std::int64_t>& query_labels, WorkFile& work, Progress& progress,
                           std::int64_t progress_scale);

// The sign conventions, in words, for the metadata.
extern const char* const kSelfInfluenceSign;
extern const char* const kTracinSelfSign;
extern const char* const kTracinQuerySign;

}  // namespace fathom::attrib::detail
