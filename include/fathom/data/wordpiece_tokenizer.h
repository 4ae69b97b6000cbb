#pragma once
// Kind "wordpiece": BERT's basic tokenization, then greedy longest-match-first
// WordPiece with "##" continuations, as HF BertTokenizer (slow) does it:
// a word of more than max_input_chars_per_word code points, or one that
// cannot be covered by vocabulary pieces, becomes a single [UNK].
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fathom/data/tokenizer.h"
#include "fathom/data/vocab.h"
#include "fathom/data/vocab_tokenizer.h"

namespace fathom::data {

// Vocabulary learning heuristic (simple and deterministic, not BPE-style
// merging; see Builder::finish):
//  1. the 5 specials;
//  2. every character c seen, as "c" and "##c" (most frequent first), so
//     any word made of seen characters tokenizes without [UNK];
//  3. then, by descending score (ties by token bytes) until max_size:
//     whole words with count >= min_word_count (score = count), and suffix
//     pieces "##s" of 2..max_suffix_chars code points taken from the ends of
//     rarer words (count < min_word_count), scored by the total count of
//     those rarer words that end in s, kept if score >= min_piece_count.
//  Words longer than text.max_input_chars_per_word are ignored ([UNK]).
struct WordpieceBuildOptions {
  TokenizerOptions text;
  std::int64_t max_size = 30000;     // vocabulary size including specials; 0 = no limit
  std::int64_t min_word_count = 2;   // whole-word threshold (and "rare word" cut-off)
  std::int64_t min_piece_count = 2;  // suffix-piece threshold
  std::int32_t max_suffix_chars = 6;
};

class WordpieceTokenizer
    : public VocabTokenizerOf<WordpieceTokenizer, WordpieceBuildOptions, DecodeContinuations::glue> {
 public:
  // Throws UsageError if options.max_input_chars_per_word < 1.
  explicit WordpieceTokenizer(Vocab vocab, TokenizerOptions options = {});
  // The heuristic above, from the counts of whole normalized words.
  static WordpieceTokenizer learn(const TokenCounts& word_counts, const BuildOptions& options);

  std::string kind() const override { return "wordpiece"; }
  // Each piece's [begin, end) covers the original bytes of its own characters
  // ("##" pieces included); an [UNK] word is one piece covering the whole word.
  // decode() glues "##x" to the piece before it.
  std::vector<TokenPiece> pieces(std::string_view text) const override;
};

}  // namespace fathom::data
