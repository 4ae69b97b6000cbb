#pragma once
// UTF-8 decoding and validation (RFC 3629: no overlongs, no surrogates,
// nothing above U+10FFFF). Offsets are byte offsets into the original string.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace fathom::data {

// Returns true if `s` is valid UTF-8; otherwise false and, if bad_offset is
// given, the byte offset of the first invalid sequence.
bool valid_utf8(std::string_view s, std::size_t* bad_offset = nullptr);

// Decodes one code point starting at s[pos]; advances pos past it. Returns
// U+FFFD and advances one byte on an invalid sequence.
char32_t decode_utf8(std::string_view s, std::size_t& pos);

// Appends the UTF-8 encoding of cp to out.
void append_utf8(std::string& out, char32_t cp);

}  // namespace fathom::data
