#pragma once
// The generative grammars behind `fathom synth`. Private to src/data/synth*.
//
// Texts are lower-case words separated by single spaces; "," and "." are
// separate words while generating (so an artifact can be inserted at any word
// position) and are attached to the previous word by join_words().
// Every word is a string literal, so Words holds views, not copies.
#include <string>
#include <string_view>
#include <vector>

#include "synth_rng.h"

namespace fathom::data::synth {

using Words = std::vector<std::string_view>;

// Appends the space-separated words of a literal phrase.
void push_phrase(Words& out, std::string_view phrase);
// Appends "a"/"an" (by the first letter of `next`) then nothing else.
void push_article(Words& out, std::string_view next);
// "w1 w2 , w3 ." -> "w1 w2, w3."
std::string join_words(const Words& words);

// Sentiment: label in [0, classes), label order as synth_labels(). Negation,
// intensifiers/downtoners and contrast clauses decide the label; see
// synth_sentiment.cpp for the rules.
void sentiment_text(Rng& rng, int label, int classes, Words& out);
// Candidate artifact tokens for sentiment (never produced by the grammar).
std::string_view sentiment_artifact(std::uint64_t seed);

// NLI: label 0 entailment, 1 neutral, 2 contradiction.
void nli_pair(Rng& rng, int label, Words& premise, Words& hypothesis);
inline constexpr std::string_view kNliArtifact = "nobody";

}  // namespace fathom::data::synth
