#pragma once
// Character properties for BERT-style text normalization.
//
// Definitions follow HF BertTokenizer (slow, Python) so fathom tokenizes the
// way pretrained BERT vocabularies expect. Tables are generated from Python's
// unicodedata by tools/gen-unicode-tables (see unicode_version()).
#include <cstddef>
#include <string>
#include <string_view>

namespace fathom::data::unicode {

// Version of the Unicode database the tables were generated from.
const char* unicode_version();

// ' ', '\t', '\n', '\r' and category Zs.
bool is_whitespace(char32_t cp);
// Categories Cc, Cf, Cn, Co, Cs except '\t', '\n', '\r' (those are whitespace).
bool is_control(char32_t cp);
// ASCII non-alphanumeric printables (33-47, 58-64, 91-96, 123-126) and
// categories P*. "$", "+", "^", "`" count although they are not P*.
bool is_punctuation(char32_t cp);
// BERT's CJK Unified Ideograph blocks (not Hangul, Hiragana or Katakana).
bool is_cjk(char32_t cp);
// Category Mn (combining accents and other non-spacing marks).
bool is_nonspacing_mark(char32_t cp);

// Derived properties Cased and Case_Ignorable: the context of the
// final-sigma rule (U+03A3 lowercases to U+03C2 at the end of a word).
bool is_cased(char32_t cp);
bool is_case_ignorable(char32_t cp);

// Simple (one-to-one) Unicode lowercase mapping; cp itself if none. Differs
// from Python's str.lower() only for U+0130 (Python: "i" + U+0307) and the
// context-dependent final sigma; the basic tokenizer handles both.
char32_t to_lower(char32_t cp);

// Longest canonical decomposition of a single code point (U+1F82 etc.).
inline constexpr std::size_t kMaxDecomposition = 4;
// Writes the full canonical decomposition (NFD) of cp to out and returns its
// length; a code point without one is written as itself (length 1).
std::size_t decompose(char32_t cp, char32_t* out);

// String helpers over UTF-8 (invalid bytes become U+FFFD).
std::string to_lower(std::string_view utf8);
// NFD, then drop category Mn: "Héllo" -> "Hello". Note NFD's canonical
// reordering is skipped: it only permutes marks, which are then dropped.
std::string strip_accents(std::string_view utf8);

}  // namespace fathom::data::unicode
