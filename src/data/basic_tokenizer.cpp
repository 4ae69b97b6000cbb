#include "basic_tokenizer.h"

#include <array>
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

// _clean_text deletes these before anything else looks at the text.
bool removed_by_cleaning(char32_t cp) { return cp == 0 || cp == 0xFFFD || u::is_control(cp); }

// Python's str.lower() maps U+03A3 to final sigma U+03C2 when it ends a word:
// preceded by a cased letter and not followed by one, ignoring
// case-ignorable characters in between. The "word" is BERT's
// whitespace-separated token after cleaning and CJK padding.
class SigmaContext {
 public:
  SigmaContext(std::string_view text, bool split_cjk) : text_(text), split_cjk_(split_cjk) {}

  bool is_final(std::size_t begin, std::size_t end) const {
    bool cased_before = false;
    for (std::size_t pos = begin; pos > 0;) {
      std::size_t start = pos - 1;
      while (start > 0 && pos - start < 4 && (static_cast<unsigned char>(text_[start]) & 0xC0) == 0x80) --start;
      std::size_t next = start;
      char32_t c = decode_utf8(text_, next);
      if (next != pos) {  // byte pos-1 is not the end of a valid sequence: a dropped invalid byte
        --pos;
        continue;
      }
      pos = start;
      if (skipped(c)) continue;
      cased_before = !bounds_word(c) && u::is_cased(c);
      break;
    }
    if (!cased_before) return false;
    for (std::size_t pos = end; pos < text_.size();) {
      char32_t c = decode_utf8(text_, pos);
      if (skipped(c)) continue;
      return bounds_word(c) || !u::is_cased(c);
    }
    return true;
  }

 private:
  static bool skipped(char32_t c) { return removed_by_cleaning(c) || u::is_case_ignorable(c); }
  bool bounds_word(char32_t c) const { return splits_words(c) || (split_cjk_ && u::is_cjk(c)); }

  std::string_view text_;
  bool split_cjk_;
};

// Python's str.lower() of one code point in context (full mapping, which
// differs from the simple one only for U+0130 and the final sigma).
std::size_t lower_full(char32_t cp, const SigmaContext& ctx, std::size_t b, std::size_t e, char32_t* out) {
  if (cp == 0x130) {  // "İ" -> "i" + COMBINING DOT ABOVE
    out[0] = 'i';
    out[1] = 0x307;
    return 2;
  }
  out[0] = cp == 0x3A3 ? (ctx.is_final(b, e) ? 0x3C2 : 0x3C3) : u::to_lower(cp);
  return 1;
}

// ASCII classes, computed once from the general definitions so the fast
// path below cannot disagree with them.
enum AsciiClass : unsigned char { kDrop, kSpace, kPunct, kOther };
const AsciiClass* ascii_classes() {
  static const auto table = [] {
    std::array<AsciiClass, 128> t{};
    for (char32_t c = 0; c < 128; ++c) {
      t[c] = removed_by_cleaning(c) ? kDrop : splits_words(c) ? kSpace : u::is_punctuation(c) ? kPunct : kOther;
    }
    return t;
  }();
  return table.data();
}

// The word being assembled plus its per-byte source spans.
struct WordBuffer {
  std::string text;
  std::vector<std::int32_t> src_begin, src_end;

  void push_ascii(char c, std::int32_t b) {
    text.push_back(c);
    src_begin.push_back(b);
    src_end.push_back(b + 1);
  }
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
  const SigmaContext sigma(text, split_cjk_);
  char32_t lowered[2];
  char32_t parts[u::kMaxDecomposition];
  const AsciiClass* ascii = ascii_classes();
  for (std::size_t pos = 0; pos < text.size();) {
    auto b = static_cast<std::int32_t>(pos);
    const auto byte = static_cast<unsigned char>(text[pos]);
    if (byte < 0x80) {
      // Fast path, same steps as below: ASCII has no accents, no CJK and
      // only A-Z to lowercase.
      ++pos;
      char c = static_cast<char>(lowercase_ && byte >= 'A' && byte <= 'Z' ? byte + 32 : byte);
      switch (ascii[byte]) {
        case kDrop:
          break;
        case kSpace:
          word.flush(visit);
          break;
        case kPunct:
          word.flush(visit);
          word.push_ascii(c, b);
          word.flush(visit);
          break;
        case kOther:
          word.push_ascii(c, b);
          break;
      }
      continue;
    }
    char32_t cp = decode_utf8(text, pos);
    auto e = static_cast<std::int32_t>(pos);
    // _clean_text: these vanish without separating their neighbours.
    if (removed_by_cleaning(cp)) continue;
    if (splits_words(cp)) {
      word.flush(visit);
      continue;
    }
    // _tokenize_chinese_chars pads ideographs with spaces (before lowercasing).
    bool cjk = split_cjk_ && u::is_cjk(cp);
    if (cjk) word.flush(visit);
    std::size_t n_lowered = 1;
    lowered[0] = cp;
    if (lowercase_) n_lowered = lower_full(cp, sigma, b, e, lowered);
    for (std::size_t k = 0; k < n_lowered; ++k) {
      std::size_t n = 1;
      parts[0] = lowered[k];
      if (strip_accents_) n = u::decompose(lowered[k], parts);
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
