#include "fathom/data/word_tokenizer.h"

#include "basic_tokenizer.h"
#include "encoding_assembly.h"
#include "fathom/data/tokenizer_factory.h"

namespace fathom::data {
namespace {
std::vector<detail::Piece> words_to_pieces(const Vocab& vocab, const TokenizerOptions& options,
                                           std::string_view text) {
  std::vector<detail::Piece> out;
  detail::BasicTokenizer(options).run(text, [&](const detail::BasicWord& w) {
    auto [b, e] = w.span();
    out.push_back({vocab.id(w.text), b, e});
  });
  return out;
}
}  // namespace

WordTokenizer::Builder::Builder(BuildOptions options) : options_(std::move(options)) {}

void WordTokenizer::Builder::add(std::string_view text) {
  ++texts_;
  detail::BasicTokenizer(options_.text).run(text, [&](const detail::BasicWord& w) {
    key_.assign(w.text);
    ++counts_[key_];
  });
}

WordTokenizer WordTokenizer::Builder::finish() const {
  return WordTokenizer(Vocab::build(counts_, {options_.min_count, options_.max_size}), options_.text);
}

WordTokenizer::WordTokenizer(Vocab vocab, TokenizerOptions options)
    : vocab_(std::move(vocab)), options_(options) {}

WordTokenizer WordTokenizer::load(const std::string& vocab_path, const TokenizerOptions& options) {
  return WordTokenizer(Vocab::load(vocab_path), options);
}

WordTokenizer WordTokenizer::build(const std::vector<std::string_view>& texts, const BuildOptions& options) {
  return build(texts.begin(), texts.end(), options);
}

Encoding WordTokenizer::encode(std::string_view text_a, std::optional<std::string_view> text_b,
                               std::int64_t max_length) const {
  std::vector<detail::Piece> a = words_to_pieces(vocab_, options_, text_a);
  if (!text_b) return detail::assemble(vocab_, a, nullptr, max_length);
  std::vector<detail::Piece> b = words_to_pieces(vocab_, options_, *text_b);
  return detail::assemble(vocab_, a, &b, max_length);
}

std::vector<std::string> WordTokenizer::tokenize(std::string_view text) const {
  std::vector<std::string> out;
  detail::BasicTokenizer(options_).run(text, [&](const detail::BasicWord& w) {
    out.push_back(vocab_.contains(w.text) ? std::string(w.text) : std::string(kUnk));
  });
  return out;
}

std::string WordTokenizer::decode(const std::vector<std::int64_t>& ids, bool skip_special) const {
  return detail::decode_ids(vocab_, ids, skip_special, /*glue_continuations=*/false);
}

std::string WordTokenizer::options_json() const { return tokenizer_options_json(kind(), options_); }

}  // namespace fathom::data
