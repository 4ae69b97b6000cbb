#pragma once
// What the vocabulary tokenizers ("word", "wordpiece") share: a Vocab, the
// text normalization options, and everything that follows once a text is cut
// into vocabulary pieces — encode ([CLS] a [SEP] b [SEP], longest-first
// truncation, offsets, type ids), tokenize, decode, id lookups, saving — plus
// the streaming word counts their vocabularies are learnt from. A tokenizer
// says only how one text becomes pieces, how its vocabulary is learnt, and
// whether decode glues "##" continuations.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fathom/data/tokenizer.h"
#include "fathom/data/vocab.h"

namespace fathom::data {

// One vocabulary token cut from a text: its id and the byte span
// [begin, end) of the original text it covers.
struct TokenPiece {
  std::int64_t id;
  std::int32_t begin, end;
};

// Whether decode() appends a "##x" token to the token before it as "x".
enum class DecodeContinuations { separate, glue };

class VocabTokenizer : public Tokenizer {
 public:
  const Vocab& vocab() const { return vocab_; }
  const TokenizerOptions& options() const { return options_; }

  // The pieces of one text in order, without special tokens.
  virtual std::vector<TokenPiece> pieces(std::string_view text) const = 0;

  Encoding encode(std::string_view text_a, std::optional<std::string_view> text_b,
                  std::int64_t max_length) const final;
  // The vocabulary token of every piece ("[UNK]" for unknown words).
  std::vector<std::string> tokenize(std::string_view text) const final;
  // Tokens joined by single spaces; when the tokenizer glues continuations, a
  // "##x" token after another token is appended as "x" (HF
  // convert_tokens_to_string). Throws UsageError on an unknown id.
  std::string decode(const std::vector<std::int64_t>& ids, bool skip_special = true) const final;
  std::int64_t vocab_size() const final { return vocab_.size(); }
  std::int64_t token_to_id(std::string_view token) const final { return vocab_.id(token); }
  const std::string& id_to_token(std::int64_t id) const final { return vocab_.token(id); }
  void save_vocab(const std::string& path) const final { vocab_.save(path); }
  std::string options_json() const final;

 protected:
  VocabTokenizer(Vocab vocab, TokenizerOptions options, DecodeContinuations continuations);

 private:
  Vocab vocab_;
  TokenizerOptions options_;
  DecodeContinuations continuations_;
};

// Streaming count of the normalized (basic-tokenized) words of texts: what
// both vocabularies are learnt from. Memory grows with the number of distinct
// words, not with the corpus.
class WordCounter {
 public:
  explicit WordCounter(TokenizerOptions options) : options_(options) {}
  void add(std::string_view text);
  std::int64_t texts() const { return texts_; }
  const TokenCounts& counts() const { return counts_; }

 private:
  TokenizerOptions options_;
  TokenCounts counts_;
  std::int64_t texts_ = 0;
  std::string key_;  // reused lookup key, avoids an allocation per word
};

// Throws UsageError unless max_size is 0 (no limit) or holds the 5 specials,
// and text.max_input_chars_per_word >= 1.
void check_vocab_build_options(std::int64_t max_size, const TokenizerOptions& text);

// Streaming vocabulary builder of tokenizer T: counts words as texts are
// added, then T::learn(counts, options) makes the tokenizer. T::BuildOptions
// holds the normalization as `text` and the size cap as `max_size`.
template <class T>
class VocabBuilder {
 public:
  using Options = typename T::BuildOptions;
  explicit VocabBuilder(Options options = {}) : options_(std::move(options)), words_(options_.text) {
    check_vocab_build_options(options_.max_size, options_.text);
  }
  void add(std::string_view text) { words_.add(text); }
  std::int64_t texts() const { return words_.texts(); }
  const TokenCounts& counts() const { return words_.counts(); }
  T finish() const { return T::learn(words_.counts(), options_); }

  // Builds from the texts in [first, last).
  template <class It>
  static T build(It first, It last, const Options& options = {}) {
    VocabBuilder builder(options);
    for (; first != last; ++first) builder.add(*first);
    return builder.finish();
  }

 private:
  Options options_;
  WordCounter words_;
};

// The constructors every vocabulary tokenizer T offers, written once: T
// derives from VocabTokenizerOf<T, its BuildOptions, how it decodes "##">,
// inherits or defines T(Vocab, TokenizerOptions), and defines
// T::learn(word counts, BuildOptions).
template <class T, class BuildOptionsT, DecodeContinuations kContinuations>
class VocabTokenizerOf : public VocabTokenizer {
 public:
  using BuildOptions = BuildOptionsT;
  using Builder = VocabBuilder<T>;

  explicit VocabTokenizerOf(Vocab vocab, TokenizerOptions options = {})
      : VocabTokenizer(std::move(vocab), options, kContinuations) {}

  // Reads vocab.txt (InputError naming file and line if it is bad).
  static T load(const std::string& vocab_path, const TokenizerOptions& options = {}) {
    return T(Vocab::load(vocab_path), options);
  }
  static T build(const std::vector<std::string_view>& texts, const BuildOptions& options = {}) {
    return Builder::build(texts.begin(), texts.end(), options);
  }
  template <class It>
  static T build(It first, It last, const BuildOptions& options = {}) {
    return Builder::build(first, last, options);
  }
};

}  // namespace fathom::data
