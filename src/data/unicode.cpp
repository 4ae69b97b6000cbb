#include "fathom/data/unicode.h"

#include <algorithm>

#include "fathom/data/utf8.h"
#include "unicode_tables.h"

namespace fathom::data::unicode {
namespace tables = unicode_tables;

namespace {
bool in_table(const tables::RangeTable& t, char32_t cp) {
  const tables::CodeRange* end = t.data + t.size;
  // First range whose last >= cp; cp is inside iff that range starts <= cp.
  const tables::CodeRange* it =
      std::lower_bound(t.data, end, cp, [](const tables::CodeRange& r, char32_t c) { return r.last < c; });
  return it != end && it->first <= cp;
}

// Hangul syllables decompose arithmetically (Unicode ch. 3.12), which keeps
// 11,172 entries out of the table. BERT's accent stripping does decompose them.
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kTCount = 28, kNCount = 21 * 28, kSCount = 19 * 21 * 28;
}  // namespace

const char* unicode_version() { return tables::kUnicodeVersion; }

bool is_whitespace(char32_t cp) {
  if (cp < 0x80) return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r';
  return in_table(tables::kWhitespace, cp);
}

bool is_control(char32_t cp) {
  if (cp < 0x80) return (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || cp == 0x7F;
  return in_table(tables::kControl, cp);
}

bool is_punctuation(char32_t cp) {
  if (cp < 0x80) {
    return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
           (cp >= 123 && cp <= 126);
  }
  return in_table(tables::kPunctuation, cp);
}

bool is_cjk(char32_t cp) {
  // Exactly the blocks in BERT's _is_chinese_char.
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

bool is_nonspacing_mark(char32_t cp) { return cp >= 0x300 && in_table(tables::kNonspacing, cp); }

bool is_cased(char32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z');
  return in_table(tables::kCased, cp);
}

bool is_case_ignorable(char32_t cp) {
  if (cp < 0x80) return cp == '\'' || cp == '.' || cp == ':' || cp == '^' || cp == '`';
  return in_table(tables::kCaseIgnorable, cp);
}

char32_t to_lower(char32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  const tables::LowerRun* end = tables::kLower.data + tables::kLower.size;
  const tables::LowerRun* it = std::lower_bound(
      tables::kLower.data, end, cp, [](const tables::LowerRun& r, char32_t c) { return r.last < c; });
  if (it == end || it->first > cp || (cp - it->first) % it->stride != 0) return cp;
  return static_cast<char32_t>(static_cast<std::int64_t>(cp) + it->delta);
}

std::size_t decompose(char32_t cp, char32_t* out) {
  if (cp < 0xC0) {  // nothing below U+00C0 decomposes canonically
    out[0] = cp;
    return 1;
  }
  if (cp >= kSBase && cp < kSBase + kSCount) {
    char32_t s = cp - kSBase;
    out[0] = kLBase + s / kNCount;
    out[1] = kVBase + (s % kNCount) / kTCount;
    if (s % kTCount == 0) return 2;
    out[2] = kTBase + s % kTCount;
    return 3;
  }
  const tables::DecompEntry* end = tables::kDecomp.data + tables::kDecomp.size;
  const tables::DecompEntry* it = std::lower_bound(
      tables::kDecomp.data, end, cp, [](const tables::DecompEntry& e, char32_t c) { return e.cp < c; });
  if (it == end || it->cp != cp) {
    out[0] = cp;
    return 1;
  }
  std::copy_n(tables::kDecomp.chars + it->offset, it->length, out);
  return it->length;
}

std::string to_lower(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  for (std::size_t pos = 0; pos < utf8.size();) append_utf8(out, to_lower(decode_utf8(utf8, pos)));
  return out;
}

std::string strip_accents(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  char32_t buf[kMaxDecomposition];
  for (std::size_t pos = 0; pos < utf8.size();) {
    std::size_t n = decompose(decode_utf8(utf8, pos), buf);
    for (std::size_t i = 0; i < n; ++i) {
      if (!is_nonspacing_mark(buf[i])) append_utf8(out, buf[i]);
    }
  }
  return out;
}

}  // namespace fathom::data::unicode
