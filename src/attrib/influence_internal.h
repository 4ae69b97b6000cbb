#pragma once
// Private to attrib: the steps influence() (influence.h) is made of — loading
// and checking its inputs (influence_inputs.cpp) and scoring s_test against
// the cache (influence_scoring.cpp).
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fathom/attrib/influence.h"
#include "fathom/data/example.h"
#include "fathom/grads/cache_info.h"
#include "fathom/grads/param_layout.h"
#include "fathom/grads/projection.h"
#include "fathom/index/top_k.h"
#include "fathom/model/bundle.h"

namespace fathom::attrib::detail {

// The sign convention, in words, for every output's metadata.
extern const char* const kInfluenceSign;

struct InfluenceInputs {
  model::Bundle bundle;
  grads::CacheInfo cache;
  grads::ParamLayout layout;                 // the cache's parameter list, on this model
  std::unique_ptr<grads::Projector> projector;  // null for "none"
  std::string corpus;                        // training corpus path actually used
  std::vector<data::Example> training;       // every record, cache row order
  std::vector<data::Example> queries;        // good query records, input order
  std::int64_t query_records = 0;
};

// UsageError for bad options (nothing is read).
void check_influence_options(const InfluenceOptions& o);
// COLLECTIVE. Loads the bundle, cache info, training corpus and queries and
// checks them against each other (influence.h step 1). Any failure is raised
// on every rank. `what` names the command in messages.
InfluenceInputs load_influence_inputs(const InfluenceOptions& o, const std::string& what, comm::Communicator& comm);
// The training rows as batches for the Hessian (gold labels).
TrainingRows training_rows(const InfluenceInputs& in);
// What saved Arnoldi eigenpairs / EK-FAC factors must match to be reused
// (SolverOptions::fingerprint): model, parameter list, training corpus, rows
// and dtype — the same for `influence` and `self-influence`, so they share files.
std::string solver_fingerprint(const InfluenceInputs& in, const std::string& dtype);

// Top lists of one block of queries: proponents by descending score,
// opponents by ascending score (stored negated so both merge as "larger
// first", Metric::ip).
struct TopLists {
  index::Neighbors proponents, opponents_negated;
};

// COLLECTIVE. Scores s [m, k] (already projected and divided by n; float32)
// against every cache row: each rank streams its share of /gradients.
// Returns the merged lists on every rank; with `full` non-null, rank 0 gets
// the [m, N] scores (others get nothing).
TopLists scan_all(const std::string& cache, const torch::Tensor& s, std::int64_t top, std::size_t memory_budget,
                  comm::Communicator& comm, std::vector<float>* full);
// COLLECTIVE. FastIF: query j is scored against candidates[j] only (cache
// rows; -1 entries ignored); rank r scores queries shard_range(m, r, size).
// Returns the merged lists on every rank; with `full` non-null, rank 0 gets
// [m, N] with NaN for non-candidates.
TopLists scan_candidates(const std::string& cache, const torch::Tensor& s,
                         const std::vector<std::vector<std::int64_t>>& candidates, std::int64_t top,
                         comm::Communicator& comm, std::vector<float>* full, std::int64_t rows);

}  // namespace fathom::attrib::detail
