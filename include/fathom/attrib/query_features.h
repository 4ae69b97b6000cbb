#pragma once
// The model's view of query examples: features (the penultimate
// representation the cache stores as /features), logits and predictions, for
// a block of records of a query corpus. Shared by the methods that compare a
// query with cached training rows (kNN, representer points).
//
// The features are computed exactly as `fathom cache` computes /features
// (grads/cache_build.cpp): model::make_batch with the bundle's tokenizer,
// max_length and labels, then Model::forward in eval mode on the CPU, float32.
// Gradients are off here (NoGradGuard); the values do not depend on it.
//
// Distribution: a block's records are cut into batches of `batch`
// consecutive records; rank r computes batches shard_range(batches, r, size)
// and the results are all-gathered, so every rank returns the whole block in
// record order and every record is computed in the same batch whatever the
// number of ranks (identical results at 1, 2, 3 ranks).
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fathom/data/example.h"
#include "fathom/model/bundle.h"

namespace fathom::comm {
class Communicator;
}

namespace fathom::attrib {

struct QueryFeatures {
  torch::Tensor features;            // [n, H] float32, CPU
  torch::Tensor logits;              // [n, C] float32, CPU
  std::vector<std::int64_t> predictions;  // [n] argmax of the logits (bundle label index)
  std::int64_t size() const { return std::int64_t(predictions.size()); }
};

// ANY RANK, local: the features of `examples` (all of them, on this rank), in
// batches of `batch` consecutive examples. Example labels are ignored (a query
// label the model does not know is not an error). UsageError for batch < 1.
QueryFeatures compute_features_local(model::Bundle& bundle, const std::vector<data::Example>& examples,
                                     std::int64_t batch);

// COLLECTIVE. `examples` must be the same block on every rank; each rank
// computes its share of the batches (see above) and every rank returns the
// whole block. An error on any rank is raised on every rank.
QueryFeatures compute_features(model::Bundle& bundle, const std::vector<data::Example>& examples, std::int64_t batch,
                               comm::Communicator& comm);

}  // namespace fathom::attrib
