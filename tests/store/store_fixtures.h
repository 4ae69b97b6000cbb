#pragma once
// Shared by the store tests (local and mpi): a cache schema like the one
// `fathom cache` will write, deterministic row values, a temp directory.
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "fathom/store/cache_writer.h"
#include "fathom/store/schema.h"
#include "temp_dir.h"

namespace fathom::store::testing {

inline constexpr std::int64_t kFeatures = 8;
inline constexpr std::int64_t kGradients = 12;
inline constexpr std::int64_t kIdWidth = 16;

inline CacheSchema example_schema(std::int64_t rows, std::int64_t rows_per_chunk) {
  CacheSchema s;
  s.rows = rows;
  s.rows_per_chunk = rows_per_chunk;
  s.datasets = {{"ids", kIdWidth, ElementType::str},       {"labels", 0, ElementType::i64},
                {"predictions", 0, ElementType::i64},      {"losses", 0, ElementType::f32},
                {"features", kFeatures, ElementType::f32}, {"gradients", kGradients, ElementType::f16}};
  s.attributes.set("model_sha256", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  s.attributes.set("parameter_names", std::vector<std::string>{"encoder.weight", "classifier.bias"});
  s.attributes.set("parameter_shapes", std::vector<std::int64_t>{4, 3, 0, 3});
  s.attributes.set("projection_kind", "rademacher");
  s.attributes.set("projection_dim", kGradients);
  s.attributes.set("projection_seed", std::int64_t(1234567890123));
  s.attributes.set("dtype", "f16");
  s.attributes.set("loss_target", "predicted");
  s.attributes.set("tokenizer", "wordpiece");
  s.attributes.set("corpus_path", "/data/snli/train.jsonl");
  s.attributes.set("corpus_size", std::int64_t(550152));
  s.attributes.set("learning_rate", 2.5e-5);
  s.attributes.set("layer_scales", std::vector<double>{0.5, 1.0 / 3.0});
  return s;
}

inline std::string id_of(std::int64_t row) { return "ex-" + std::to_string(row); }
inline std::int64_t label_of(std::int64_t row) { return row % 3; }
inline std::int64_t prediction_of(std::int64_t row) { return (row * 7 + 1) % 3 - (row % 11 == 0 ? 5 : 0); }
inline float loss_of(std::int64_t row) { return float(row) * 0.25f - 3.0f; }
inline float feature_of(std::int64_t row, std::int64_t col) { return float(row) * 0.5f + float(col) * 0.125f - 1.0f; }
// Not exact in binary16: exercises rounding; includes a few huge values (inf).
inline float gradient_of(std::int64_t row, std::int64_t col) {
  if (row % 97 == 5 && col == 0) return 1e6f;
  return float(std::sin(double(row * kGradients + col))) * float(1 + row % 5);
}

// Writes rows [begin, begin + count) of every dataset, datasets in turn.
inline void write_example_rows(CacheWriter& w, std::int64_t begin, std::int64_t count) {
  std::vector<std::string> ids;
  std::vector<std::int64_t> labels, predictions;
  std::vector<float> losses, features, gradients;
  for (std::int64_t r = begin; r < begin + count; ++r) {
    ids.push_back(id_of(r));
    labels.push_back(label_of(r));
    predictions.push_back(prediction_of(r));
    losses.push_back(loss_of(r));
    for (std::int64_t c = 0; c < kFeatures; ++c) features.push_back(feature_of(r, c));
    for (std::int64_t c = 0; c < kGradients; ++c) gradients.push_back(gradient_of(r, c));
  }
  w.write_strings("ids", begin, count, ids.data());
  w.write_rows("labels", begin, count, labels.data());
  w.write_rows("predictions", begin, count, predictions.data());
  w.write_rows("losses", begin, count, losses.data());
  w.write_rows("features", begin, count, features.data());
  w.write_rows("gradients", begin, count, gradients.data());
}

// A chunk in two uneven writes (exercises continuation inside a chunk).
inline void write_example_chunk(CacheWriter& w, std::int64_t chunk) {
  const RowRange r = w.chunk_rows(chunk);
  const std::int64_t first = r.count / 3;
  if (first > 0) write_example_rows(w, r.begin, first);
  write_example_rows(w, r.begin + first, r.count - first);
}

using fathom::testing::TempDir;

}  // namespace fathom::store::testing
