#pragma once
// What every attack shares (docs/methods.md §11-13): HotFlip's first-order
// scores, the vocabulary an attack may write, and the check that a written
// text tokenizes back to the ids that were attacked.
//
// First-order score (Ebrahimi et al. 2018): replacing the embedding e_t at
// position t by the embedding e_w of token w changes the objective F by about
//   score[t, w] = (e_w − e_t) · g_t,     g_t = ∂F/∂e_t
// (attrib::embedding_gradients gives g). For all positions and tokens this is
// one product  g · Eᵀ  [T,V]  minus the per-position term  e_t · g_t.
// An attack that raises F (untargeted HotFlip: F = loss at the prediction)
// wants the largest score; one that lowers F (targeted HotFlip, triggers:
// F = loss towards the target) the smallest.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fathom/data/tokenizer.h"

namespace fathom::attack {

// gradients [T,E] (or [B,T,E]), embeddings [T,E] (or [B,T,E]) the embeddings
// the gradients were taken at, embedding_matrix [V,E]. Returns [T,V] (or
// [B,T,V]) in float64: score[.., t, w] = (E[w] − e_t) · g_t. UsageError on
// mismatched shapes.
torch::Tensor first_order_scores(const torch::Tensor& gradients, const torch::Tensor& embeddings,
                                 const torch::Tensor& embedding_matrix);

// Which vocabulary tokens an attack may write (as a trigger token or a
// replacement). Never allowed, whatever the filter: [PAD], [UNK], [CLS],
// [SEP], [MASK] and every other bracketed token "[...]" (BERT's [unusedN]).
struct VocabFilter {
  bool alphabetic_only = false;  // "alpha": letters only (a "##" prefix aside; any non-ASCII byte counts as a letter)
  bool no_stop_words = false;    // "stopwords": leave out a fixed list of ~150 English function words
  bool whole_words_only = false; // "words": leave out wordpiece continuations ("##x")
};

// "none" or a comma-separated subset of "alpha,stopwords,words" (the CLI's
// --vocab-filter). UsageError naming the unknown item.
VocabFilter parse_vocab_filter(const std::string& spec);
// The inverse: "none" or the items in the order above.
std::string vocab_filter_spec(const VocabFilter& filter);

// [V] bool (CPU): true where token id may be written.
torch::Tensor allowed_tokens(const data::Tokenizer& tokenizer, const VocabFilter& filter);

// True when `token` is one of the stop words the "stopwords" filter removes
// (compared as given; vocabularies of fathom models are lowercased).
bool is_stop_word(const std::string& token);

// The re-tokenisation check of triggers: `ids` (no special tokens), written
// as text with tokenizer.decode, tokenizes back to exactly `ids`. A wordpiece
// sequence that starts with a continuation, or whose pieces glue into another
// word, fails.
bool retokenizes(const data::Tokenizer& tokenizer, const std::vector<std::int64_t>& ids);

}  // namespace fathom::attack
