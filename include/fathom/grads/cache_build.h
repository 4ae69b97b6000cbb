#pragma once
// Building the per-example gradient and representation cache (`fathom
// cache`): one HDF5 file (store/schema.h layout, format "fathom.cache") with
// a row per corpus record, in corpus order. Names: store/cache_names.h.
//   /ids          str   [N]     example ids (UTF-8, fixed width = longest id)
//   /labels       i64   [N]     gold label index, data::kNoLabel (-1) when the record has none
//   /targets      i64   [N]     label the loss used (gold or predicted)
//   /predictions  i64   [N]     argmax of the logits
//   /losses       f32   [N]     cross-entropy at the target
//   /logits       f32   [N,C]
//   /features     dtype [N,H]   penultimate representation
//   /gradients    dtype [N,k]   ∇θ L (k = D) or P ∇θ L (k = projection dim)
// Root attributes (besides the writer's format/format_version/created_at/
// fathom_version/complete/rows_per_chunk):
//   kind "gradients", model_dir, model_sha256 (of the weights file),
//   model_kind, model_architecture, tokenizer, max_length, labels,
//   params (names), param_shapes ("2x64"), param_counts, param_filter,
//   gradient_dim (D), stored_dim (k), projection (spec text), projection_kind,
//   projection_dim, projection_seed, dtype, target, batch, corpus_path,
//   method, corpus_bytes, corpus_sha256, corpus_records, score_sign.
// Ranks compute whole row-chunks; inside a chunk, examples are batched by
// length (less padding) and written back in corpus order. Chunks, and so
// batches, do not depend on the number of ranks: 1, 2 or 3 ranks write
// identical datasets. Reading a cache back: grads/cache_info.h.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "fathom/comm/communicator.h"
#include "fathom/data/corpus.h"

namespace fathom::grads {

struct CacheOptions {
  std::string model_dir;
  std::string corpus;
  std::string out;
  std::string params = "classifier";   // parameter filter (model.h), "all" for every parameter
  std::string project = "none";        // projection spec (projection.h)
  std::string dtype = "f32";           // f32 | f16: features and gradients
  std::string target = "gold";         // gold | predicted
  std::string method = "vectorised";   // vectorised | loop (the naive baseline)
  std::int64_t batch = 32;
  std::int64_t rows_per_chunk = 0;     // 0: ~1 MiB per chunk, >= ~64 chunks, whole batches
                                       // (cache_chunk_policy); the resume unit, and results
                                       // of one chunk are held in memory
  bool overwrite = false;              // replace an existing file instead of resuming it
  int threads = 0;                     // torch threads per rank; 0 = cores / local ranks
  std::string device = "cpu";          // cpu | cuda
  double progress_period_s = 10.0;
  data::CorpusOptions corpus_options;
  // Test hook (fault injection, never set by the CLI): called on this rank
  // after each batch it computed, with the number of batches it has
  // computed in this run so far (1, 2, ...). A kill-and-resume test installs
  // one that SIGKILLs the process, mid-chunk when a chunk holds several
  // batches (tests/grads/mpi/cache_killer.cpp).
  std::function<void(std::int64_t batches)> after_batch;
};

struct CacheResult {
  std::int64_t rows = 0;
  std::int64_t gradient_dim = 0;       // D
  std::int64_t stored_dim = 0;         // k
  std::int64_t chunks = 0;
  std::int64_t chunks_written = 0;     // by this run, all ranks
  bool resumed = false;
  bool already_complete = false;
  double seconds = 0;
  double rows_per_s = 0;               // rows written by this run / seconds
  std::vector<std::string> params;
  std::vector<std::string> loop_params;
};

// COLLECTIVE. Validates everything (bundle, corpus, filter, projection,
// options) before the output file is touched: bad input is an InputError /
// UsageError and an existing file stays as it was. An existing file built
// with the same settings is resumed (only chunks not marked complete are
// computed; a complete file returns at once without being opened for
// writing); one built with another model, parameter list, projection,
// corpus... is refused with an InputError naming every attribute that
// differs, unless `overwrite`. model_dir and corpus_path are recorded but
// not compared (files may move; model_sha256 and corpus_sha256 are).
CacheResult build_cache(const CacheOptions& options, comm::Communicator& comm);

}  // namespace fathom::grads
