#pragma once
// Saliency of whole examples (texts in, scored tokens out): what
// `fathom saliency` writes per line and what the server's /v1/saliency
// returns. Scores come from saliency_scores (saliency.h).
//
// Tokens are the bundle tokenizer's encoding of text (and text_pair), with
// [CLS]/[SEP] (special = true, begin = end = 0, text = the token itself) and
// UTF-8 byte offsets [begin, end) into text (segment 0) or text_pair
// (segment 1); `text` is that byte range of the source. Truncation to the
// bundle's max_length is applied as in training (truncated = true).
// normalized_t = |score_t| / Σ_u |score_u| over the example's tokens
// (AllenNLP's normalisation; all 0 when every score is 0).
// words (wordpiece tokenizers only): maximal runs of non-special tokens of one
// segment where every token after the first starts with "##"; score = sum of
// the tokens' raw scores, normalized = sum of their normalized scores, byte
// range from the first token's begin to the last one's end.
//
// JSON line (saliency_json), keys in this order:
//   {"id", "prediction" (label), "probs" {label: p} (6 significant digits),
//    "target" (label), "method", "settings" {"of", "target", and per method
//    "steps","rule" (ig) | "samples","noise","seed" (smoothgrad)},
//    "objective" (F at the input), ig only: "baseline_objective",
//    "completeness_gap",
//    "tokens": [{"token","text","begin","end","segment","special","score","normalized"}],
//    "words": [{"text","begin","end","segment","tokens" [first,last],"score","normalized"}] (wordpiece),
//    "truncated"}
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fathom/attrib/saliency.h"
#include "fathom/data/example.h"
#include "fathom/model/bundle.h"

namespace fathom::attrib {

// Whose score: the model's prediction, the example's gold label, or a fixed
// label name. parse: "predicted" | "gold" | any other text = a label name
// (checked against the bundle by resolve_target).
struct SaliencyTarget {
  enum class Kind { predicted, gold, label };
  Kind kind = Kind::predicted;
  std::string label;
  static SaliencyTarget parse(const std::string& text);
  std::string name() const;  // "predicted" | "gold" | the label
};

struct TokenScore {
  std::string token, text;
  std::int32_t begin = 0, end = 0;
  std::int64_t segment = 0;
  bool special = false;
  double score = 0, normalized = 0;
};

struct WordScore {
  std::string text;
  std::int32_t begin = 0, end = 0;
  std::int64_t segment = 0;
  std::int64_t first_token = 0, last_token = 0;
  double score = 0, normalized = 0;
};

struct ExampleSaliency {
  std::string id;
  std::vector<TokenScore> tokens;
  std::vector<WordScore> words;  // wordpiece only
  std::int64_t prediction = 0, target = 0;
  std::vector<double> probs;     // bundle label order
  double objective = 0;
  std::optional<double> baseline_objective, completeness_gap;  // ig
  bool truncated = false;
};

// ANY RANK, local. Saliency of `examples` in batches of `batch` consecutive
// examples (bundle model in eval mode). `source` names the file in errors:
// InputError(source, line, "label", ...) for target gold on an example
// without a label or with a label the bundle does not know;
// UsageError for a target label the bundle does not know, batch < 1 or bad
// settings. `fixed_targets` (label indices, one per example), when not
// empty, replaces `target` (the sanity check explains a randomised model at
// the trained model's targets).
std::vector<ExampleSaliency> explain_saliency(model::Bundle& bundle, const std::vector<data::Example>& examples,
                                              const SaliencySettings& settings, const SaliencyTarget& target,
                                              std::int64_t batch, const std::string& source = "input",
                                              const std::vector<std::int64_t>& fixed_targets = {});

// The JSON line of one example (no newline), see above.
std::string saliency_json(const ExampleSaliency& e, const model::Bundle& bundle, const SaliencySettings& settings,
                          const SaliencyTarget& target);

}  // namespace fathom::attrib
