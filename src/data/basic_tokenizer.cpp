#include "basic_tokenizer.h"

#include <limits>

#include "fathom/core/error.h"
#include "fathom/data/unicode.h"
#include "fathom/data/utf8.h"

namespace fathom::data::detail {
namespace {
namespace u = unicode;

// Python's str.split() (BERT's whitespace_tokenize) also splits on U+2028 and
// U+2029, which cleaning keeps; tools/gen-unicode-tables asserts these are the
// only such code points.
bool splits_words(char32_t cp) { return u::is_whitespace(cp) || cp == 0x2028 || cp == 0x2029; }

// The word being assembled plus its per-byte source spans.
struct WordBuffer {
  std::string text;
  std::vector<std::int32_t> src_begin, src_end;

  void push(char32_t cp, std::int32_t b, std::int32_t e) {
    append_utf8(text, cp);
    src_begin.resize(text.size(), b);
    src_end.resize(text.size(), e);
  }
  void flush(const std::function<void(const BasicWord&)>& visit) {
    if (text.empty()) return;
    visit(BasicWord{text, src_begin.data(), src_end.data()});
    text.clear();
    src_begin.clear();
    src_end.clear();
  }
};
}  // namespace

void BasicTokenizer::run(std::string_view text, const std::function<void(const BasicWord&)>& visit) const {
  if (text.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    throw UsageError("text of " + std::to_string(text.size()) + " bytes is too long to tokenize (limit 2 GiB)");
  }
  WordBuffer word;
  char32_t parts[u::kMaxDecomposition];
  for (std::size_t pos = 0; pos < text.size();) {
    auto b = static_cast<std::int32_t>(pos);
    char32_t cp = decode_utf8(text, pos);
    auto e = static_cast<std::int32_t>(pos);
    // _clean_text: these vanish without separating their neighbours.
    if (cp == 0 || cp == 0xFFFD || u::is_control(cp)) continue;
    if (splits_words(cp)) {
      word.flush(visit);
      continue;
    }
    // _tokenize_chinese_chars pads ideographs with spaces (before lowercasing).
    bool cjk = split_cjk_ && u::is_cjk(cp);
    if (cjk) word.flush(visit);
    if (lowercase_) cp = u::to_lower(cp);
    std::size_t n = 1;
    parts[0] = cp;
    if (strip_accents_) n = u::decompose(cp, parts);
    for (std::size_t i = 0; i < n; ++i) {
      char32_t c = parts[i];
      if (strip_accents_ && u::is_nonspacing_mark(c)) continue;
      // Punctuation is judged after normalization, as in BERT (U+2260 "≠"
      // decomposes to "=" + U+0338 and so splits off).
      if (u::is_punctuation(c)) {
        word.flush(visit);
        word.push(c, b, e);
        word.flush(visit);
      } else if (splits_words(c)) {
        word.flush(visit);
      } else {
        word.push(c, b, e);
      }
    }
    if (cjk) word.flush(visit);
  }
  word.flush(visit);
}

std::vector<std::string> BasicTokenizer::words(std::string_view text) const {
  std::vector<std::string> out;
  run(text, [&](const BasicWord& w) { out.emplace_back(w.text); });
  return out;
}

}  // namespace fathom::data::detail
