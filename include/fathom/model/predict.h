#pragma once
// Batch prediction with a model bundle, sharded over ranks.
//
// Output (JSONL, one line per good corpus record, in corpus order whatever
// the number of ranks):
//   {"id": "<id>", "label": "<predicted label>",
//    "probs": {"<label 0>": p0, "<label 1>": p1, ...},   (bundle label order)
//    "gold": "<gold label>" or null}                      (null: the record has no label)
// probs are softmax probabilities rounded to 6 significant digits, so the
// file is stable across rank counts and thread counts in the last bits.
// Batches are fixed runs of `batch` consecutive records and ranks take whole
// batches (contiguous shards), so every example is computed in the same batch
// whatever the number of ranks.
// <out>.summary.json: {"format": "fathom-predict-summary", "format_version": 1,
//   "model_dir", "corpus", "n", "n_gold", "accuracy" (null without gold
//   labels), "skipped", "examples_per_s", "seconds", "ranks", "labels"}.
// A gold label the model does not know counts as wrong (it cannot be predicted).
// Both files are written atomically by rank 0. Memory: every rank receives the
// whole output text once (all_gatherv) before rank 0 writes it.
#include <cstdint>
#include <optional>
#include <string>

#include "fathom/comm/communicator.h"
#include "fathom/data/corpus.h"

namespace fathom::model {

struct PredictOptions {
  std::string model_dir;   // bundle directory
  std::string corpus;      // jsonl/tsv/csv; labels optional
  std::string out;         // preds.jsonl path
  std::int64_t batch = 64;
  int threads = 0;         // torch threads per rank; 0 = cores / local ranks
  data::CorpusOptions corpus_options;
};

struct PredictResult {
  std::int64_t n = 0;               // examples predicted
  std::int64_t n_gold = 0;          // of which with a gold label
  std::optional<double> accuracy;   // over the examples with a gold label
  double examples_per_s = 0;
};

// COLLECTIVE. Throws UsageError for bad options, InputError for a bad bundle
// or corpus.
PredictResult predict(const PredictOptions& options, comm::Communicator& comm);

}  // namespace fathom::model
