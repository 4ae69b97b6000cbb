#pragma once
// Kind "word": BERT's basic tokenization (clean, CJK split, lowercase / strip
// accents, punctuation split), each word looked up whole; unknown -> [UNK].
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fathom/data/tokenizer.h"
#include "fathom/data/vocab.h"
#include "fathom/data/vocab_tokenizer.h"

namespace fathom::data {

// Outside the class: a nested struct with member initializers cannot be a
// default argument of its enclosing class's members.
struct WordBuildOptions {
  TokenizerOptions text;       // normalization (lowercase etc.), kept by the tokenizer
  std::int64_t min_count = 1;  // words seen fewer times become [UNK]
  std::int64_t max_size = 0;   // vocabulary size including specials; 0 = no limit
};

class WordTokenizer : public VocabTokenizerOf<WordTokenizer, WordBuildOptions, DecodeContinuations::separate> {
 public:
  using VocabTokenizerOf::VocabTokenizerOf;  // (Vocab, TokenizerOptions = {})
  // Vocabulary: specials, then words with count >= min_count by count (ties
  // by bytes), up to max_size.
  static WordTokenizer learn(const TokenCounts& word_counts, const BuildOptions& options);

  std::string kind() const override { return "word"; }
  // Each basic word looked up whole: one piece spanning the word.
  std::vector<TokenPiece> pieces(std::string_view text) const override;
};

}  // namespace fathom::data
