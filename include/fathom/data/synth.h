#pragma once
// Synthetic corpora with planted ground truth (METHODS.md §4).
//
// A small generative grammar produces a sentiment or NLI corpus whose labels
// follow known rules (negation, contrast clauses, hypernyms, antonyms), then
// plants two things that the explanation methods must later recover:
//  * an ARTIFACT token (sentiment: a rare director name such as "spielberg",
//    chosen from the seed; nli: "nobody" in the hypothesis) inserted at a
//    random word position into `artifact_rate` of one label's examples in
//    train AND dev, never in test: a model that learns the shortcut looks
//    fine on dev but loses accuracy on test. The token occurs nowhere else.
//    Flipped examples never get it, so the two plants stay independent.
//  * FLIPPED labels: exactly round(flip_rate * n_train) train examples get a
//    different, uniformly chosen label (dev/test stay clean).
// Everything planted is recorded in truth.json (format_version 1).
//
// Output (in out_dir): train.jsonl, dev.jsonl, test.jsonl, truth.json.
//   sentiment: {"id":"train-000001","text":"...","label":"positive"}
//   nli:       {"id":...,"text":premise,"text_pair":hypothesis,"label":"entailment"}
// Each file is written to "<file>.tmp.<pid>" and renamed when complete;
// truth.json is renamed last, so its presence means the run completed.
//
// Determinism: identical options give byte-identical files on any platform.
// The PRNG is xoshiro256** seeded through splitmix64; every example draws
// from its own streams keyed by (seed, split, index, purpose), where purpose
// separates text, flip and artifact draws. Hence changing flip_rate or
// artifact_rate leaves the underlying texts and true labels unchanged.
// Memory is bounded (streaming), so n = 10M is fine.
#include <cstdint>
#include <string>
#include <vector>

namespace fathom::data {

struct SynthOptions {
  std::string task = "sentiment";  // "sentiment" | "nli"
  std::int64_t n = 10000;          // training examples, [1, 1e12]
  std::uint64_t seed = 1;
  double artifact_rate = 0.0;  // [0, 1]: share of the artifact label's train/dev examples
  double flip_rate = 0.0;      // [0, 1]: share of train labels flipped
  // sentiment: 2 (negative/positive), 3 (+neutral) or 5 (very_negative ..
  // very_positive); nli: 3. 0 = the task's default (sentiment 2, nli 3).
  int classes = 0;
  double dev_fraction = 0.1;   // [0, 1]: dev size = round(n * dev_fraction)
  double test_fraction = 0.1;  // [0, 1]: test size = round(n * test_fraction)
  std::string out_dir;         // created if missing
};

struct SynthSplit {
  std::string path;
  std::int64_t examples = 0;
  std::vector<std::int64_t> label_counts;  // observed labels, indexed like SynthSummary::labels
};

struct SynthSummary {
  std::string task;
  int classes = 0;
  std::vector<std::string> labels;
  SynthSplit train, dev, test;
  std::string truth_path;
  // The planted artifact (token/label/field are set even when the rate is 0).
  std::string artifact_token;
  std::string artifact_label;
  std::string artifact_field;  // "text" | "text_pair"
  std::int64_t artifact_train = 0;
  std::int64_t artifact_dev = 0;
  std::int64_t flipped = 0;  // == round(flip_rate * train.examples)
};

// Throws UsageError naming the option and its accepted range.
void validate(const SynthOptions& opt);

// Label names in id order for a task/classes (classes 0 = task default).
// Throws UsageError for an unknown task or unsupported class count.
std::vector<std::string> synth_labels(const std::string& task, int classes);

// Validates, writes the four files, reports progress on stderr.
SynthSummary synthesize(const SynthOptions& opt);

}  // namespace fathom::data
