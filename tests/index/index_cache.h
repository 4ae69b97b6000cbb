#pragma once
// A small fathom cache for the index tests (local and mpi), written with
// store::CacheWriter the way `fathom cache` lays one out: ids, labels,
// /features f32 [N, dim] and /gradients f16 [N, 6], and the provenance
// attributes cache_identity() covers. Returns the features as written.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "fathom/comm/communicator.h"
#include "fathom/store/cache_writer.h"
#include "fathom/store/schema.h"
#include "index/index_fixtures.h"
#include "temp_dir.h"

namespace fathom::index::testing {

inline constexpr std::int64_t kGradientWidth = 6;

struct CacheSpec {
  std::int64_t rows = 500;
  std::int64_t dim = 8;
  std::uint64_t seed = 1;
  bool clustered = false;                    // clustered_vectors (50 centres) instead of normal noise
  std::string model_sha256 = std::string(64, 'a');
  std::string id_prefix = "ex-";
  std::int64_t rows_per_chunk = 64;
  bool finalize = true;
};

// Written by the calling process alone (local communicator).
inline std::vector<float> write_test_cache(const std::string& path, const CacheSpec& spec = {}) {
  store::CacheSchema s;
  s.rows = spec.rows;
  s.rows_per_chunk = spec.rows_per_chunk;
  s.datasets = {{"ids", 16, store::ElementType::str},
                {"labels", 0, store::ElementType::i64},
                {"features", spec.dim, store::ElementType::f32},
                {"gradients", kGradientWidth, store::ElementType::f16}};
  s.attributes.set("kind", "gradients");
  s.attributes.set("model_sha256", spec.model_sha256);
  s.attributes.set("corpus_sha256", std::string(64, 'c'));
  s.attributes.set("params", std::vector<std::string>{"classifier.weight", "classifier.bias"});
  s.attributes.set("projection", "none");
  s.attributes.set("dtype", "f32");
  s.attributes.set("target", "gold");
  const std::vector<float> features = spec.clustered ? clustered_vectors(spec.rows, spec.dim, 50, spec.seed)
                                                     : random_vectors(spec.rows, spec.dim, spec.seed);
  const std::vector<float> gradients = random_vectors(spec.rows, kGradientWidth, spec.seed + 1000);
  std::vector<std::string> ids;
  std::vector<std::int64_t> labels;
  for (std::int64_t r = 0; r < spec.rows; ++r) {
    ids.push_back(spec.id_prefix + std::to_string(r));
    labels.push_back(r % 3);
  }
  auto local = comm::make_communicator("local");
  store::CacheWriter w = store::CacheWriter::create(path, s, *local);
  const std::int64_t written = spec.finalize ? spec.rows : std::min(spec.rows, spec.rows_per_chunk);
  w.write_strings("ids", 0, written, ids.data());
  w.write_rows("labels", 0, written, labels.data());
  w.write_rows("features", 0, written, features.data());
  w.write_rows("gradients", 0, written, gradients.data());
  if (spec.finalize) w.finalize();
  return features;
}

using fathom::testing::TempDir;

}  // namespace fathom::index::testing
