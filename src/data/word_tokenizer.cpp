#include "fathom/data/word_tokenizer.h"

#include "basic_tokenizer.h"

namespace fathom::data {

WordTokenizer WordTokenizer::learn(const TokenCounts& word_counts, const BuildOptions& options) {
  return WordTokenizer(Vocab::build(word_counts, {options.min_count, options.max_size}), options.text);
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
