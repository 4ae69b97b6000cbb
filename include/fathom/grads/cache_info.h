#pragma once
// Reading a gradient cache (written by build_cache, grads/cache_build.h):
// what it holds, whether it was built from a given model bundle, and each
// rank's share of its rows. Used by influence, FastIF, representer points and
// `fathom inspect --check-model`.
// ANY RANK: a store::CacheReader is opened by each rank on its own.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fathom/store/cache_reader.h"

namespace fathom::grads {

// What a gradient cache holds, read from its attributes.
struct CacheInfo {
  std::string path;
  std::int64_t rows = 0;
  bool complete = false;
  std::string model_sha256, model_kind, model_architecture;
  std::vector<std::string> labels;
  std::vector<std::string> params, param_shapes;
  std::vector<std::int64_t> param_counts;
  std::int64_t gradient_dim = 0, stored_dim = 0;
  std::string projection;  // spec text
  std::string dtype, target;
};
// InputError if `reader` is not a gradient cache (kind attribute) or an
// attribute is missing or of another type (naming it).
CacheInfo read_cache_info(const store::CacheReader& reader);

// Differences between a cache and a model bundle directory, one line each
// ("model_sha256: cache has X, model has Y"; a parameter missing or with
// another shape). Empty = the cache was built from this model.
std::vector<std::string> check_cache_model(const CacheInfo& info, const std::string& model_dir);

// This rank's share of a cached float dataset ("gradients", "features"),
// streamed in blocks within `memory_budget_bytes` (f16 converted to float):
//   auto blocks = rank_blocks(reader, "gradients", comm.rank(), comm.size(), 64 << 20);
//   while (blocks.next()) score(blocks.begin(), blocks.count(), blocks.data());
store::RowBlocks rank_blocks(const store::CacheReader& reader, const std::string& dataset, int rank, int size,
                             std::size_t memory_budget_bytes);

}  // namespace fathom::grads
