// UTF-8 validation for corpus values, ASCII skipped a word at a time: text is
// mostly ASCII even in non-English corpora (spaces, digits, punctuation), and
// every value of every record passes through here.
#include <cstring>

#include "corpus_internal.h"
#include "fathom/data/utf8.h"

namespace fathom::data::corpus_detail {

bool utf8_valid_fast(std::string_view s) {
  constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
  std::size_t i = 0;
  while (i < s.size()) {
    if (s.size() - i >= 8) {
      std::uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      if (!(w & kHighs)) {
        i += 8;
        continue;
      }
    }
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    std::size_t at = i;
    // An invalid sequence decodes as U+FFFD and advances one byte; a real
    // U+FFFD is three bytes long.
    if (decode_utf8(s, i) == 0xFFFD && i - at == 1) return false;
  }
  return true;
}

}  // namespace fathom::data::corpus_detail
