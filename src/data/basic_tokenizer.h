#pragma once
// BERT's BasicTokenizer (private to src/data): clean, split CJK, split on
// whitespace, lowercase / strip accents, split punctuation. Unlike BERT it
// remembers, for every byte of a normalized word, which original bytes it came
// from, so tokens can point back into the caller's text.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fathom/data/tokenizer.h"

namespace fathom::data::detail {

struct BasicWord {
  std::string_view text;          // normalized UTF-8, never empty
  const std::int32_t* src_begin;  // per byte of text: original span [begin, end)
  const std::int32_t* src_end;    //   of the code point that produced the byte

  // Original span of the normalized bytes [b, e), e > b.
  std::pair<std::int32_t, std::int32_t> span(std::size_t b, std::size_t e) const {
    return {src_begin[b], src_end[e - 1]};
  }
  std::pair<std::int32_t, std::int32_t> span() const { return span(0, text.size()); }
};

class BasicTokenizer {
 public:
  explicit BasicTokenizer(const TokenizerOptions& options)
      : lowercase_(options.lowercase), strip_accents_(options.strips_accents()), split_cjk_(options.split_cjk) {}

  // Calls visit for each word in order; the word's views are valid only
  // during the call. Throws UsageError for texts of 2 GiB or more (offsets are
  // 32-bit). Invalid UTF-8 bytes are dropped, like U+FFFD in BERT.
  void run(std::string_view text, const std::function<void(const BasicWord&)>& visit) const;

  // Normalized words only (builders, tests).
  std::vector<std::string> words(std::string_view text) const;

 private:
  bool lowercase_, strip_accents_, split_cjk_;
};

}  // namespace fathom::data::detail
