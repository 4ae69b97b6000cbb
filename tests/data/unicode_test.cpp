// Character properties against values checked by hand in the Unicode
// character database (and BERT's definitions where they differ from it).
#include <gtest/gtest.h>

#include <string>

#include "fathom/data/unicode.h"

namespace {
namespace u = fathom::data::unicode;

TEST(Unicode, VersionIsRecorded) { EXPECT_GT(std::string(u::unicode_version()).size(), 0u); }

TEST(Unicode, WhitespaceIsBertsDefinition) {
  for (char32_t cp : {U' ', U'\t', U'\n', U'\r', U'\u00A0', U'\u2003', U'\u3000'}) {
    EXPECT_TRUE(u::is_whitespace(cp)) << std::hex << cp;
  }
  // U+200B is Cf, U+2028 is Zl, U+0085 is Cc: not BERT whitespace.
  for (char32_t cp : {U'a', U'\u200B', U'\u2028', U'\u0085', U'\x0B'}) {
    EXPECT_FALSE(u::is_whitespace(cp)) << std::hex << cp;
  }
}

TEST(Unicode, ControlIsAnyCCategoryExceptTabNewlineReturn) {
  // Cc, Cf (soft hyphen, zero-width joiner, BOM), Co (private use), Cn (unassigned U+0378).
  for (char32_t cp : {U'\0', U'\x07', U'\x7F', U'\u0085', U'\u00AD', U'\u200D', U'\uFEFF', U'\uE000', U'\u0378'}) {
    EXPECT_TRUE(u::is_control(cp)) << std::hex << cp;
  }
  for (char32_t cp : {U'\t', U'\n', U'\r', U' ', U'a', U'\u00E9'}) {
    EXPECT_FALSE(u::is_control(cp)) << std::hex << cp;
  }
}

TEST(Unicode, PunctuationIncludesAsciiSymbols) {
  // "$+<=>^`|~" are Sc/Sm/Sk in Unicode but punctuation for BERT.
  for (char32_t cp : {U'!', U'"', U'#', U'$', U'+', U'/', U':', U'@', U'[', U'^', U'`', U'{', U'~'}) {
    EXPECT_TRUE(u::is_punctuation(cp)) << std::hex << cp;
  }
  // Po, Pd, Ps, Pi outside ASCII.
  for (char32_t cp : {U'\u00A7', U'\u00BF', U'\u2014', U'\u3001', U'\u300C', U'\u201C', U'\uFF01'}) {
    EXPECT_TRUE(u::is_punctuation(cp)) << std::hex << cp;
  }
  // Letters, digits, space, and non-ASCII symbols (So, Sm) are not.
  for (char32_t cp : {U'a', U'Z', U'0', U' ', U'\u00A9', U'\u2260', U'\u00E9'}) {
    EXPECT_FALSE(u::is_punctuation(cp)) << std::hex << cp;
  }
}

TEST(Unicode, CjkIsIdeographsOnly) {
  for (char32_t cp : {U'\u4E2D', U'\u3400', U'\U00020000', U'\uF900', U'\U0002F800'}) {
    EXPECT_TRUE(u::is_cjk(cp)) << std::hex << cp;
  }
  // Hiragana, Katakana, Hangul, fullwidth Latin are not.
  for (char32_t cp : {U'\u3042', U'\u30A2', U'\uAC00', U'\uFF21', U'a'}) {
    EXPECT_FALSE(u::is_cjk(cp)) << std::hex << cp;
  }
}

TEST(Unicode, NonspacingMarks) {
  EXPECT_TRUE(u::is_nonspacing_mark(U'\u0301'));
  EXPECT_TRUE(u::is_nonspacing_mark(U'\u0308'));
  EXPECT_FALSE(u::is_nonspacing_mark(U'\u0903'));  // Mc, spacing
  EXPECT_FALSE(u::is_nonspacing_mark(U'e'));
}

TEST(Unicode, SimpleLowercase) {
  EXPECT_EQ(u::to_lower(U'A'), U'a');
  EXPECT_EQ(u::to_lower(U'a'), U'a');
  EXPECT_EQ(u::to_lower(U'1'), U'1');
  EXPECT_EQ(u::to_lower(U'\u00C9'), U'\u00E9');      // É -> é
  EXPECT_EQ(u::to_lower(U'\u0100'), U'\u0101');      // Ā -> ā (stride-2 run)
  EXPECT_EQ(u::to_lower(U'\u0101'), U'\u0101');      // already lower inside that run
  EXPECT_EQ(u::to_lower(U'\u0130'), U'i');           // İ: simple mapping
  EXPECT_EQ(u::to_lower(U'\u03A3'), U'\u03C3');      // Σ -> σ (context-free)
  EXPECT_EQ(u::to_lower(U'\u0391'), U'\u03B1');      // Greek Α
  EXPECT_EQ(u::to_lower(U'\u0410'), U'\u0430');      // Cyrillic А
  EXPECT_EQ(u::to_lower(U'\u0401'), U'\u0451');      // Ё
  EXPECT_EQ(u::to_lower(U'\u1E9E'), U'\u00DF');      // ẞ -> ß
  EXPECT_EQ(u::to_lower(U'\u00DF'), U'\u00DF');
  EXPECT_EQ(u::to_lower(U'\U00010400'), U'\U00010428');  // Deseret
  EXPECT_EQ(u::to_lower(std::string("ÀÉÎ ΣΑΣ Москва")), "àéî σασ москва");
}

TEST(Unicode, CasedAndCaseIgnorable) {
  EXPECT_TRUE(u::is_cased(U'A'));
  EXPECT_TRUE(u::is_cased(U'\u03C3'));
  EXPECT_FALSE(u::is_cased(U'1'));
  EXPECT_TRUE(u::is_case_ignorable(U'.'));
  EXPECT_TRUE(u::is_case_ignorable(U'\''));
  EXPECT_TRUE(u::is_case_ignorable(U'\u0301'));
  EXPECT_FALSE(u::is_case_ignorable(U','));
  EXPECT_FALSE(u::is_case_ignorable(U'a'));
}

std::u32string nfd(char32_t cp) {
  char32_t out[u::kMaxDecomposition];
  std::size_t n = u::decompose(cp, out);
  return std::u32string(out, n);
}

TEST(Unicode, CanonicalDecomposition) {
  EXPECT_EQ(nfd(U'a'), U"a");
  EXPECT_EQ(nfd(U'\u00E9'), U"e\u0301");
  EXPECT_EQ(nfd(U'\u00C5'), U"A\u030A");
  EXPECT_EQ(nfd(U'\u212B'), U"A\u030A");            // Angstrom sign: singleton, then recursive
  EXPECT_EQ(nfd(U'\u1E69'), U"s\u0323\u0307");       // recursive, marks in canonical order
  EXPECT_EQ(nfd(U'\u1F82'), U"\u03B1\u0313\u0300\u0345");  // the longest: 4
  EXPECT_EQ(nfd(U'\uAC00'), U"\u1100\u1161");        // Hangul LV, computed
  EXPECT_EQ(nfd(U'\uAC01'), U"\u1100\u1161\u11A8");  // Hangul LVT
  EXPECT_EQ(nfd(U'\uFB01'), U"\uFB01");              // "ﬁ" has only a compatibility decomposition
  EXPECT_EQ(nfd(U'\uF900'), U"\u8C48");              // CJK compatibility ideograph
}

TEST(Unicode, StripAccents) {
  EXPECT_EQ(u::strip_accents("Héllo Wörld"), "Hello World");
  EXPECT_EQ(u::strip_accents("crème brûlée, naïve"), "creme brulee, naive");
  EXPECT_EQ(u::strip_accents("e\u0301"), "e");  // already decomposed
  EXPECT_EQ(u::strip_accents("Ωμέγα"), "Ωμεγα");
  EXPECT_EQ(u::strip_accents("ﬁ ß ø"), "ﬁ ß ø");  // no canonical decomposition
}

}  // namespace
