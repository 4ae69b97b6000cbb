#pragma once
// Layout of the generated tables in unicode_tables.cpp (tools/gen-unicode-tables).
// Private to src/data: callers use fathom/data/unicode.h.
#include <cstddef>
#include <cstdint>

namespace fathom::data::unicode_tables {

struct CodeRange {
  char32_t first, last;  // inclusive
};
struct RangeTable {
  const CodeRange* data;
  std::size_t size;
};

// Code points first, first+stride, ..., last map to cp + delta.
struct LowerRun {
  char32_t first, last;
  std::int32_t delta;
  std::int32_t stride;  // 1 or 2 (Latin Extended alternates upper/lower)
};
struct LowerTable {
  const LowerRun* data;
  std::size_t size;
};

// NFD of `cp` is chars[offset .. offset + length).
struct DecompEntry {
  char32_t cp;
  std::uint16_t offset;
  std::uint8_t length;
};
struct DecompTable {
  const DecompEntry* data;
  std::size_t size;
  const char32_t* chars;
};

extern const char* const kUnicodeVersion;
extern const RangeTable kWhitespace;
extern const RangeTable kControl;
extern const RangeTable kPunctuation;
extern const RangeTable kNonspacing;
extern const RangeTable kCased;
extern const RangeTable kCaseIgnorable;
extern const LowerTable kLower;
extern const DecompTable kDecomp;

}  // namespace fathom::data::unicode_tables
