// The half of both vocabulary tokenizers that comes after cutting a text into
// pieces: assembling encodings (specials, truncation, offsets), decoding, and
// the word counts their vocabularies are learnt from.
#include "fathom/data/vocab_tokenizer.h"

#include <algorithm>

#include "basic_tokenizer.h"
#include "fathom/core/error.h"
#include "fathom/data/tokenizer_factory.h"

namespace fathom::data {
namespace {

// How many pieces of a and b survive truncation to max_length, like HF's
// "longest_first": drop the last token of the longer sequence until it fits
// (ties drop from b). Throws UsageError if max_length > 0 cannot even hold the
// special tokens.
std::pair<std::size_t, std::size_t> kept_lengths(std::size_t a, std::optional<std::size_t> b,
                                                 std::int64_t max_length) {
  std::size_t keep_a = a, keep_b = b.value_or(0);
  const std::size_t specials = b ? 3 : 2;
  if (max_length <= 0) return {keep_a, keep_b};
  if (max_length < static_cast<std::int64_t>(specials)) {
    throw UsageError("max_length " + std::to_string(max_length) + " cannot hold the " + std::to_string(specials) +
                     " special tokens of a " + (b ? "pair" : "single text"));
  }
  const std::size_t room = static_cast<std::size_t>(max_length) - specials;
  if (!b) return {std::min(keep_a, room), 0};
  // HF removes one token at a time from the longer side, b on ties.
  while (keep_a + keep_b > room) {
    if (keep_a > keep_b) {
      --keep_a;
    } else {
      --keep_b;
    }
  }
  return {keep_a, keep_b};
}

class EncodingWriter {
 public:
  explicit EncodingWriter(std::size_t n) {
    enc_.ids.reserve(n);
    enc_.type_ids.reserve(n);
    enc_.begin.reserve(n);
    enc_.end.reserve(n);
    enc_.special.reserve(n);
  }
  void special(std::int64_t id, std::int64_t type) { add(id, type, 0, 0, true); }
  void pieces(const std::vector<TokenPiece>& p, std::size_t keep, std::int64_t type) {
    for (std::size_t i = 0; i < keep; ++i) add(p[i].id, type, p[i].begin, p[i].end, false);
  }
  Encoding done(bool truncated) {
    enc_.truncated = truncated;
    return std::move(enc_);
  }

 private:
  void add(std::int64_t id, std::int64_t type, std::int32_t begin, std::int32_t end, bool special) {
    enc_.ids.push_back(id);
    enc_.type_ids.push_back(type);
    enc_.begin.push_back(begin);
    enc_.end.push_back(end);
    enc_.special.push_back(special ? 1 : 0);
  }
  Encoding enc_;
};

}  // namespace

VocabTokenizer::VocabTokenizer(Vocab vocab, TokenizerOptions options, DecodeContinuations continuations)
    : vocab_(std::move(vocab)), options_(options), continuations_(continuations) {}

Encoding VocabTokenizer::encode(std::string_view text_a, std::optional<std::string_view> text_b,
                                std::int64_t max_length) const {
  const std::vector<TokenPiece> a = pieces(text_a);
  const std::vector<TokenPiece> b = text_b ? pieces(*text_b) : std::vector<TokenPiece>{};
  const std::optional<std::size_t> b_size = text_b ? std::optional<std::size_t>(b.size()) : std::nullopt;
  const auto [keep_a, keep_b] = kept_lengths(a.size(), b_size, max_length);
  EncodingWriter out(keep_a + keep_b + (text_b ? 3 : 2));
  out.special(vocab_.cls_id(), 0);
  out.pieces(a, keep_a, 0);
  out.special(vocab_.sep_id(), 0);
  if (text_b) {
    out.pieces(b, keep_b, 1);
    out.special(vocab_.sep_id(), 1);
  }
  return out.done(keep_a < a.size() || keep_b < b.size());
}

std::vector<std::string> VocabTokenizer::tokenize(std::string_view text) const {
  std::vector<std::string> out;
  for (const TokenPiece& p : pieces(text)) out.push_back(vocab_.token(p.id));
  return out;
}

std::string VocabTokenizer::decode(const std::vector<std::int64_t>& ids, bool skip_special) const {
  const bool glue = continuations_ == DecodeContinuations::glue;
  std::string out;
  for (std::int64_t id : ids) {
    const std::string& token = vocab_.token(id);  // UsageError if out of range
    if (skip_special && vocab_.is_structural(id)) continue;
    if (glue && !out.empty() && token.compare(0, 2, "##") == 0) {
      out.append(token, 2, std::string::npos);
      continue;
    }
    if (!out.empty()) out += ' ';
    out += token;
  }
  return out;
}

std::string VocabTokenizer::options_json() const { return tokenizer_options_json(kind(), options_); }

void WordCounter::add(std::string_view text) {
  ++texts_;
  detail::BasicTokenizer(options_).run(text, [&](const detail::BasicWord& w) {
    key_.assign(w.text);
    ++counts_[key_];
  });
}

void check_vocab_build_options(std::int64_t max_size, const TokenizerOptions& text) {
  Vocab::check_max_size(max_size);
  if (text.max_input_chars_per_word < 1) throw UsageError("max_input_chars_per_word must be at least 1");
}

}  // namespace fathom::data
