#pragma once
// HotFlip (Ebrahimi et al. 2018; docs/methods.md §11), `fathom hotflip`:
// per-instance token flips, one example or a batch at a time.
//
// Per example (encoded like `fathom predict`: [CLS] a [SEP] (b [SEP]),
// truncated to the bundle's max_length), with y0 = the model's prediction:
//   untargeted: F = CE(logits, y0), raised;   success: prediction ≠ y0
//   targeted:   F = CE(logits, y*), lowered;  success: prediction = y*
//               (an example already predicted y* is a success with no flip)
// Each step takes g = ∂F/∂e (attrib::embedding_gradients) and
//  1. the position with the largest ‖g_t‖₂ among those not flipped yet (never
//     [CLS]/[SEP]/padding);
//  2. its replacement: the allowed token (first_order.h VocabFilter, never the
//     current token) with the largest (untargeted) or smallest (targeted)
//     first-order score (e_w − e_t)·g_t, ties by id; the text with that token
//     written in place of the old one (spliced at the token's byte offsets,
//     "##" dropped) must tokenize back to exactly the attacked ids, else the
//     next replacement is tried (up to max_candidates, then the next
//     position);
//  3. a forward pass on the flipped input; stop at success or after
//     max_flips flips (or when no position is left).
// Every emitted adversarial text tokenizes back to the attacked ids.
//
// Batches: the examples of a batch advance in lock step (one forward and
// backward per step for all of them); results equal per-example runs up to
// float summation order inside the model (padding is masked).
// The per-example/per-batch calls use the bundle as given (load_bundle returns
// it in eval mode; keep it there), on the calling thread with torch's current
// intra-op thread count; one thread drives a model at a time (model.h), so a
// server runs one attack per bundle at once. Embedding gradients come from
// attrib::embedding_gradients (Objective::loss).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fathom/attack/first_order.h"
#include "fathom/data/corpus.h"
#include "fathom/data/example.h"
#include "fathom/model/bundle.h"

namespace fathom::comm {
class Communicator;
}

namespace fathom::attack {

struct HotFlipConfig {
  std::optional<std::string> target;  // label name; nullopt = untargeted
  std::int64_t max_flips = 5;         // >= 1
  std::int64_t max_candidates = 50;   // replacements tried per position (re-tokenisation), >= 1
  VocabFilter vocab_filter;
};

struct Flip {
  std::int64_t position = 0;          // token index in the encoding ([CLS] = 0)
  std::int64_t old_id = 0, new_id = 0;
  std::string old_token, new_token;
  double score = 0;                   // first-order score (e_new − e_old)·g
  std::vector<double> probs;          // the model's probabilities after this flip
};

struct HotFlipResult {
  std::string id;
  std::string text;                           // original
  std::optional<std::string> text_pair;
  std::string adversarial_text;               // tokenizes to ids_after
  std::optional<std::string> adversarial_text_pair;
  std::vector<std::int64_t> ids_before, ids_after;
  std::int64_t label_before = 0, label_after = 0;  // predictions (bundle label index)
  std::vector<double> probs_before, probs_after;
  std::optional<std::int64_t> gold;           // the example's label index, when it has a known one
  std::vector<Flip> flips;
  bool success = false;
};

// ANY RANK, local. Throws UsageError for bad config (max_flips or
// max_candidates < 1, an unknown target naming the model's labels), InputError
// when the vocabulary allows no replacement token.
HotFlipResult hotflip(model::Bundle& bundle, const data::Example& example, const HotFlipConfig& config);
std::vector<HotFlipResult> hotflip(model::Bundle& bundle, const std::vector<data::Example>& examples,
                                   const HotFlipConfig& config);

// `fathom hotflip` (and `fathom reduce`, reduce.h): a query file in, one JSON
// line per example out, in input order.
struct InstanceFileOptions {
  std::string model_dir;
  std::string queries;                 // jsonl/tsv/csv
  data::CorpusOptions query_options;
  std::string out;                     // JSONL; "<out>.meta.json" beside it
  std::int64_t batch = 32;             // examples attacked together
  std::int64_t keep_lines = 0;         // the first N output lines also come back in the result (--show)
  int threads = 0;                     // torch threads per rank; 0 = cores / local ranks
  double progress_period_s = 10.0;
};

struct HotFlipFileOptions : InstanceFileOptions {
  HotFlipConfig config;
};

// Over the file (also in the meta file).
struct InstanceFileResult {
  std::int64_t n = 0;
  std::int64_t successes = 0;
  double success_rate = 0;             // successes / n (0 when n = 0)
  double mean_steps = 0;               // flips (hotflip) / removals (reduce) per success (0 without)
  std::int64_t correct = 0;            // examples with a gold label the model predicts
  std::optional<double> success_rate_correct;  // among those
  double seconds = 0;
  double instances_per_s = 0;
  std::vector<std::string> first_lines;  // rank 0: the first keep_lines output lines (JSON text)
};

// COLLECTIVE. Every rank parses the query file; its batches of `batch`
// consecutive examples are shared over ranks (shard_range over batches, in
// blocks), so each example is attacked in the same batch whatever the number
// of ranks and the output is the same bytes at any rank count. Rank 0 writes
// atomically. Lines:
//   {"id", "text", ["text_pair"], "adversarial_text", ["adversarial_text_pair"],
//    "label_before", "label_after", "probs_before", "probs_after",
//    "gold" (label or null), "success", "flips": [{"position", "old", "new",
//    "score", "probs"}]}
// Meta: {"format": "fathom-hotflip-meta", "format_version": 1, "model_dir",
//   "queries", "target", "max_flips", "vocab_filter", "batch", "n",
//   "successes", "success_rate", "mean_flips", "correct",
//   "success_rate_correct", "seconds", "instances_per_s", "ranks"}.
InstanceFileResult hotflip_file(const HotFlipFileOptions& options, comm::Communicator& comm);

}  // namespace fathom::attack
