#pragma once
// `fathom saliency`: saliency of every record of a query file (batch mode,
// distributed over ranks, output in input order) and the randomisation
// sanity check of Adebayo et al. 2018 (docs/methods.md §9-10).
//
// Output: one JSON line per query record in input order (saliency_explain.h
// gives the line), written by rank 0 atomically; beside it
// "<out>.meta.json": {"format": "fathom-saliency-meta", "format_version": 1,
//   "model_dir", "queries", "method", "of", "target", "steps", "rule",
//   "samples", "noise", "seed" (those of the method; others null), "batch",
//   "n", "completeness_gap" {"mean_abs", "max_abs"} (ig; else null),
//   "sanity" (null or {"seed", "stages": [{"randomized": [blocks so far],
//   "mean_spearman", "examples"}]}), "seconds", "ranks"}.
//
// Distribution: every rank reads the same block of `block` records; the
// block is cut into batches of `batch` consecutive records and rank r
// computes batches shard_range(batches, r, size); rank 0 gathers the lines in
// rank order (= record order). Every record is computed in the same batch
// whatever the number of ranks, so 2 or 3 ranks write the bytes 1 rank writes.
//
// Sanity (--sanity): parameter blocks (cascade_blocks) are re-drawn from the
// top (classifier) down to the embeddings, cumulatively; after each stage the
// same saliency is recomputed and compared with the trained model's by
// Spearman's rank correlation (attrib/lds.h) over each example's non-special tokens
// (examples with < 2 such tokens, or constant scores, are left out); the
// stage reports the mean over examples. Maps that barely change (Spearman
// near 1) do not depend on what the model learned.
//
// COLLECTIVE. Validated before anything is written (exit 2, nothing
// written): bad settings, an unknown --target label, a bad query corpus, a
// missing gold label (with --target gold).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fathom/attrib/saliency_explain.h"
#include "fathom/data/corpus.h"

namespace fathom::comm {
class Communicator;
}

namespace fathom::attrib {

struct SaliencyOptions {
  std::string model_dir;
  std::string queries;                // jsonl/tsv/csv
  data::CorpusOptions query_options;
  std::string out;                    // JSONL; "<out>.meta.json" beside it
  SaliencySettings settings;
  SaliencyTarget target;
  std::int64_t batch = 16;            // examples per batch (IG/SmoothGrad: × steps/samples rows)
  std::int64_t block = 1024;          // records read per block (all ranks)
  bool sanity = false;
  std::uint64_t sanity_seed = 0;
  int threads = 0;                    // torch threads per rank; 0 = cores / local ranks
  double progress_period_s = 10.0;
};

struct SanityStage {
  std::vector<std::string> randomized;  // blocks re-drawn so far, top first
  std::optional<double> mean_spearman;
  std::int64_t examples = 0;            // examples with a defined Spearman
};

struct SaliencyRunResult {
  std::int64_t examples = 0;
  std::optional<double> mean_abs_gap, max_abs_gap;  // ig
  std::vector<SanityStage> sanity;
  double seconds = 0;
};

SaliencyRunResult saliency(const SaliencyOptions& options, comm::Communicator& comm);

// Parameter blocks of the cascade, top first: parameters grouped by their
// name up to the first purely numeric component ("encoder.layers.1.*"), or
// else by the first component ("classifier", "embedding"); blocks ordered by
// the reverse of their first appearance in named_parameters().
struct ParameterBlock {
  std::string name;
  std::vector<std::string> parameters;
};
std::vector<ParameterBlock> cascade_blocks(model::Model& model);

// Re-draws each named parameter p in place from N(mean(p), std(p)²) with a
// generator seeded from `seed` and the name (same seed, same weights);
// parameters with fewer than 2 values or std 0 are left as they are.
void randomize_parameters(model::Model& model, const std::vector<std::string>& names, std::uint64_t seed);

}  // namespace fathom::attrib
