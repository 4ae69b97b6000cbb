#include "fathom/data/word_tokenizer.h"

#include "basic_tokenizer.h"

namespace fathom::data {

WordTokenizer::WordTokenizer(Vocab vocab, TokenizerOptions options)
    : VocabTokenizer(std::move(vocab), options, Continuations::separate) {}

WordTokenizer WordTokenizer::load(const std::string& vocab_path, const TokenizerOptions& options) {
  return WordTokenizer(Vocab::load(vocab_path), options);
}

WordTokenizer WordTokenizer::learn(const TokenCounts& word_counts, const BuildOptions& options) {
  return WordTokenizer(Vocab::build(word_counts, {options.min_count, options.max_size}), options.text);
}

WordTokenizer WordTokenizer::build(const std::vector<std::string_view>& texts, const BuildOptions& options) {
  return build(texts.begin(), texts.end(), options);
}

std::vector<TokenPiece> WordTokenizer::pieces(std::string_view text) const {
  std::vector<TokenPiece> out;
  detail::BasicTokenizer(options()).run(text, [&](const detail::BasicWord& w) {
    auto [b, e] = w.span();
    out.push_back({vocab().id(w.text), b, e});
  });
  return out;
}

}  // namespace fathom::data
