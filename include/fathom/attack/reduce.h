#pragma once
// Input reduction (Feng et al. 2018; docs/methods.md §13), `fathom reduce`:
// remove the least salient token while the prediction stays the same.
//
// Per example (encoded like `fathom predict`), with y0 = the model's
// prediction on the whole input:
//   saliency of token t = ‖∂CE(logits, y0)/∂e_t‖₂ (attrib::embedding_gradients)
// Beam search over removals (beam b, AllenNLP's default 3):
//   the beam starts as {the whole input}; at each level, every entry with more
//   than min_tokens removable tokens (all but [CLS]/[SEP]) spawns up to b
//   children, each without one of its b least salient tokens (ties by
//   position); the children are evaluated in one forward pass, those whose
//   prediction is no longer y0 are dropped (so are duplicates), and the b with
//   the highest confidence p(y0) (ties by generation order) form the next
//   beam. The search ends when no child keeps y0; the result is the best
//   entry of the last beam (the shortest input that kept y0, highest p(y0)).
// With b = 1 each step removes the minimum-saliency token of the current
// input, and stops before a removal that would change the prediction.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fathom/attack/hotflip.h"

namespace fathom::attack {

struct ReduceConfig {
  std::int64_t beam = 3;        // >= 1
  std::int64_t min_tokens = 1;  // never fewer real tokens than this (>= 1)
};

struct Removal {
  std::int64_t position = 0;   // token index in the ORIGINAL encoding ([CLS] = 0)
  std::string token;
  double saliency = 0;         // ‖g_t‖ when it was removed
  double confidence = 0;       // p(y0) after the removal
};

struct ReduceResult {
  std::string id;
  std::string text;
  std::optional<std::string> text_pair;
  std::int64_t label = 0;             // y0 (bundle label index)
  double confidence_before = 0;       // p(y0) on the whole input
  std::vector<std::int64_t> ids_before, ids_after;
  std::vector<std::string> reduced_tokens;          // tokens left (no specials)
  std::string reduced_text;                         // the tokens left, as text (original spelling)
  std::optional<std::string> reduced_text_pair;
  std::vector<Removal> removed;                     // the path, in order
  std::optional<std::int64_t> gold;
};

// ANY RANK, local. UsageError for beam or min_tokens < 1.
ReduceResult reduce(model::Bundle& bundle, const data::Example& example, const ReduceConfig& config);
std::vector<ReduceResult> reduce(model::Bundle& bundle, const std::vector<data::Example>& examples,
                                 const ReduceConfig& config);

struct ReduceFileOptions : InstanceFileOptions {
  ReduceConfig config;
};

// COLLECTIVE, distributed and ordered like hotflip_file. Lines:
//   {"id", "text", ["text_pair"], "label", "gold", "confidence_before",
//    "reduced_text", ["reduced_text_pair"], "reduced_tokens",
//    "original_length", "reduced_length",
//    "removed": [{"position", "token", "saliency", "confidence"}]}
// (lengths count tokens without [CLS]/[SEP]). Success = at least one token
// removed. Meta: {"format": "fathom-reduce-meta", "format_version": 1,
//   "model_dir", "queries", "beam", "min_tokens", "batch", "n", "successes",
//   "success_rate", "mean_removed", "mean_original_length",
//   "mean_reduced_length", "seconds", "instances_per_s", "ranks"}.
InstanceFileResult reduce_file(const ReduceFileOptions& options, comm::Communicator& comm);

}  // namespace fathom::attack
