#pragma once
// Kind "word": BERT's basic tokenization (clean, CJK split, lowercase / strip
// accents, punctuation split), each word looked up whole; unknown -> [UNK].
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fathom/data/tokenizer.h"
#include "fathom/data/vocab.h"

namespace fathom::data {

// Outside the class: a nested struct with member initializers cannot be a
// default argument of its enclosing class's members.
struct WordBuildOptions {
  TokenizerOptions text;       // normalization (lowercase etc.), kept by the tokenizer
  std::int64_t min_count = 1;  // words seen fewer times become [UNK]
  std::int64_t max_size = 0;   // vocabulary size including specials; 0 = no limit
};

class WordTokenizer : public Tokenizer {
 public:
  using BuildOptions = WordBuildOptions;

  // Streaming vocabulary builder: memory grows with the number of distinct
  // words, not with the corpus.
  class Builder {
   public:
    explicit Builder(BuildOptions options = {});
    void add(std::string_view text);
    std::int64_t texts() const { return texts_; }
    const TokenCounts& counts() const { return counts_; }
    WordTokenizer finish() const;

   private:
    BuildOptions options_;
    TokenCounts counts_;
    std::int64_t texts_ = 0;
    std::string key_;  // reused lookup key, avoids an allocation per word
  };

  explicit WordTokenizer(Vocab vocab, TokenizerOptions options = {});
  static WordTokenizer load(const std::string& vocab_path, const TokenizerOptions& options = {});
  static WordTokenizer build(const std::vector<std::string_view>& texts, const BuildOptions& options = {});
  template <class It>
  static WordTokenizer build(It first, It last, const BuildOptions& options = {}) {
    Builder builder(options);
    for (; first != last; ++first) builder.add(*first);
    return builder.finish();
  }

  const Vocab& vocab() const { return vocab_; }
  const TokenizerOptions& options() const { return options_; }

  std::string kind() const override { return "word"; }
  Encoding encode(std::string_view text_a, std::optional<std::string_view> text_b,
                  std::int64_t max_length) const override;
  // Vocabulary tokens, "[UNK]" for unknown words.
  std::vector<std::string> tokenize(std::string_view text) const override;
  // Tokens joined by single spaces.
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
