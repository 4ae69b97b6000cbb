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

class WordpieceTokenizer : public Tokenizer {
 public:
  using BuildOptions = WordpieceBuildOptions;

  // Streaming builder: memory grows with the number of distinct words only.
  class Builder {
   public:
    explicit Builder(BuildOptions options = {});
    void add(std::string_view text);
    std::int64_t texts() const { return texts_; }
    const TokenCounts& word_counts() const { return counts_; }
    WordpieceTokenizer finish() const;

   private:
    BuildOptions options_;
    TokenCounts counts_;
    std::int64_t texts_ = 0;
    std::string key_;
  };

  explicit WordpieceTokenizer(Vocab vocab, TokenizerOptions options = {});
  static WordpieceTokenizer load(const std::string& vocab_path, const TokenizerOptions& options = {});
  static WordpieceTokenizer build(const std::vector<std::string_view>& texts, const BuildOptions& options = {});
  template <class It>
  static WordpieceTokenizer build(It first, It last, const BuildOptions& options = {}) {
    Builder builder(options);
    for (; first != last; ++first) builder.add(*first);
    return builder.finish();
  }

  const Vocab& vocab() const { return vocab_; }
  const TokenizerOptions& options() const { return options_; }

  std::string kind() const override { return "wordpiece"; }
  // Each piece's [begin, end) covers the original bytes of its own characters
  // ("##" pieces included); an [UNK] word covers the whole word.
  Encoding encode(std::string_view text_a, std::optional<std::string_view> text_b,
                  std::int64_t max_length) const override;
  std::vector<std::string> tokenize(std::string_view text) const override;
  // Pieces joined by spaces, "##x" glued to the piece before it.
  std::string decode(const std::vector<std::int64_t>& ids, bool skip_special = true) const override;
  std::int64_t vocab_size() const override { return vocab_.size(); }
  std::int64_t token_to_id(std::string_view token) const override { return vocab_.id(token); }
  const std::string& id_to_token(std::int64_t id) const override { return vocab_.token(id); }
  void save_vocab(const std::string& path) const override { vocab_.save(path); }
  std::string options_json() const override;

 private:
  Vocab vocab_;
  TokenizerOptions options_;
};

}  // namespace fathom::data
