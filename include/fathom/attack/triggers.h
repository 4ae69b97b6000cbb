#pragma once
// Universal adversarial triggers (Wallace et al. 2019; docs/methods.md §12),
// `fathom triggers`.
//
// A trigger t = (t_1..t_L) is inserted into every input: prepend (right after
// [CLS]), append (right before the first [SEP]) or pair (right after the first
// [SEP], i.e. at the start of the second text, with type id 1). Inputs are
// encoded with max_length − L so the trigger always fits.
//
// Objective per example (minimised), Objective::loss of attrib/embedding_gradients.h:
//   targeted   (target y*):  F = CE(logits, y*)        examples: gold ≠ y*
//   untargeted:              F = −CE(logits, gold)     examples: every labelled one
// (from_label further keeps only examples whose gold label is from_label).
// The batch loss is the mean of F over the batch.
//
// Search, per iteration i = 1..iterations:
//  1. batch i: the next `batch` examples of a seeded shuffle of the examples
//     (model::epoch_permutation(n, seed, epoch); a new shuffle every pass);
//  2. ḡ_p = mean over the batch of ∂F/∂e(t_p) at the current trigger;
//  3. per position p the `candidates` tokens w with the SMALLEST first-order
//     score (e_w − e(t_p))·ḡ_p (first_order.h) among the allowed tokens
//     (VocabFilter; ties by token id);
//  4. beam search over positions left to right (beam 1 = greedy coordinate
//     descent): every beam entry, and each entry with position p replaced by
//     each candidate, is scored by its TRUE batch loss (a forward pass); the
//     `beam` lowest (ties by order of generation) survive. A candidate
//     trigger that does not re-tokenise (first_order.h retokenizes) or
//     repeats one already generated at that step is skipped, not evaluated;
//  5. the best entry becomes the trigger; if it equals the trigger the
//     iteration started from, nothing improved and the search stops
//     ("converged"); else it goes on until `iterations` ("budget").
//
// Batched and distributed evaluation: the candidate triggers of one beam
// step are cut into units of consecutive candidates (about 12 units, each at
// most pass_rows / batch candidates, both fixed by the options, never by the
// number of ranks); a unit is ONE forward pass over candidates × examples
// rows; rank r evaluates units shard_range(units, r, size) and the per-
// candidate losses are all-gathered. The gradient of step 2 is summed in units
// of 16 examples, gathered and added in unit order. So every unit is computed
// identically whatever the rank count: the same seed gives the same trigger
// and the same losses bitwise at any number of ranks. reference = true
// evaluates one candidate per forward pass (the authors' code) on every rank,
// for equality checks and benchmarks; everything else is shared.
//
// Threads: one model, one thread driving it (model.h); intra-op threads as
// configured (model::configure_threads).
#include <torch/torch.h>

#include <cstdint>
#include <functional>
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

enum class TriggerPosition { prepend, append, pair };
TriggerPosition parse_trigger_position(const std::string& name);  // UsageError for others
const char* trigger_position_name(TriggerPosition p);

// The search itself (what a library caller, the server or a test sets).
struct TriggerConfig {
  std::optional<std::string> target;      // label name; nullopt = untargeted
  std::optional<std::string> from_label;  // only examples with this gold label
  std::int64_t length = 3;                // 1..10 tokens
  std::int64_t beam = 1;
  std::int64_t candidates = 40;           // K per position
  std::int64_t batch = 64;                // examples per iteration
  std::int64_t iterations = 20;           // budget
  std::string init;                       // text of L tokens; "" = "the" × length (else the first allowed token)
  TriggerPosition position = TriggerPosition::prepend;
  std::uint64_t seed = 1;
  bool reference = false;                 // one candidate per forward pass
  VocabFilter vocab_filter;
  std::int64_t pass_rows = 4096;          // at most this many rows per forward pass
};

struct TriggerIteration {
  std::int64_t iteration = 0;           // 1-based
  double loss_before = 0;               // batch loss of the trigger the iteration started from
  double loss = 0;                      // batch loss of the trigger it ended with (<= loss_before)
  std::vector<std::int64_t> ids;        // the trigger after this iteration
  std::int64_t evaluated = 0;           // candidate triggers evaluated (true loss)
  std::int64_t rejected = 0;            // candidates skipped by the re-tokenisation check
};

struct TriggerSearch {
  std::vector<std::int64_t> init_ids, ids;  // initial and final trigger
  std::vector<std::string> tokens;          // final trigger's tokens
  std::string text;                         // tokenizer.decode(ids): the trigger as text
  std::vector<TriggerIteration> iterations;
  std::string stopped;                      // "converged" | "budget"
  std::int64_t examples = 0;                // examples the batches were drawn from
  std::int64_t forward_passes = 0;          // forward passes that scored candidates (units; reference: candidates)
  std::int64_t forward_rows = 0;            // rows in those passes (candidates × batch examples)
  double seconds = 0;
};

// COLLECTIVE (same bundle, examples and config on every rank; every rank
// returns the same result). Validates first: UsageError for length outside
// 1..10, beam/candidates/batch/iterations/pass_rows < 1, an unknown target or
// from_label (naming the model's labels), an init that is not `length`
// allowed tokens or does not re-tokenise, position pair with examples without
// a second text; InputError when no example qualifies (e.g. every example has
// the target label) or when the vocabulary allows no token at all.
// on_iteration (optional) is called on every rank after each iteration.
TriggerSearch search_trigger(model::Bundle& bundle, const std::vector<data::Example>& examples,
                             const TriggerConfig& config, comm::Communicator& comm,
                             const std::function<void(const TriggerIteration&)>& on_iteration = {});

// Held-out effect of a trigger: every labelled example, predicted without and
// with the trigger (inserted as in the search).
struct TriggerClassEval {
  std::string label;
  std::int64_t n = 0;
  double accuracy_before = 0, accuracy_after = 0;
  double target_rate_before = 0, target_rate_after = 0;  // share predicted as the target (0 when untargeted)
};
struct TriggerEval {
  std::int64_t n = 0;
  double accuracy_before = 0, accuracy_after = 0;
  // Targeted: share of examples with gold ≠ target (and = from_label when set)
  // predicted as the target with the trigger; null without such examples.
  // Untargeted: share of correctly predicted examples whose prediction the
  // trigger changes.
  std::optional<double> flip_rate;
  std::int64_t flip_base = 0;  // the examples flip_rate is a share of
  std::vector<TriggerClassEval> per_class;  // bundle label order, classes with n > 0
};

// COLLECTIVE. Examples without a label are ignored; batches of config.batch
// consecutive examples, shared over ranks like the search's units.
TriggerEval evaluate_trigger(model::Bundle& bundle, const std::vector<data::Example>& examples,
                             const std::vector<std::int64_t>& trigger_ids, const TriggerConfig& config,
                             comm::Communicator& comm);

// `fathom triggers`: files in, one JSON document out.
struct TriggerOptions {
  std::string model_dir;
  std::string corpus;                 // examples the trigger is searched on
  data::CorpusOptions corpus_options; // for corpus and eval
  std::string eval;                   // held-out corpus ("" = no evaluation)
  std::string out;                    // JSON; written atomically by rank 0
  TriggerConfig config;
  int threads = 0;                    // torch threads per rank; 0 = cores / local ranks
  double progress_period_s = 10.0;
};

// Output document:
//   {"format": "fathom-triggers", "format_version": 1, "model_dir", "corpus",
//    "mode": "targeted"|"untargeted", "target", "from_label", "position",
//    "length", "beam", "candidates", "batch", "iterations_max", "seed",
//    "reference", "vocab_filter",
//    "init": {"ids", "tokens", "text"}, "trigger": {"ids", "tokens", "text"},
//    "iterations": [{"iteration", "loss_before", "loss", "ids", "tokens",
//                    "evaluated", "rejected"}],
//    "stopped", "examples", "forward_passes", "forward_rows", "search_seconds",
//    "eval": null | {"corpus", "n", "accuracy_before", "accuracy_after",
//                    "flip_rate", "flip_base",
//                    "per_class": [{"label", "n", "accuracy_before",
//                    "accuracy_after", "target_rate_before", "target_rate_after"}]},
//    "seconds", "ranks"}
struct TriggerResult {
  TriggerSearch search;
  std::optional<TriggerEval> eval;
};

// COLLECTIVE. Reads both corpora on every rank. Nothing is written when
// validation fails (exit 2).
TriggerResult find_trigger(const TriggerOptions& options, comm::Communicator& comm);

}  // namespace fathom::attack
