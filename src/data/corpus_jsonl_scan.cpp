// Fast path for JSONL records: a strict, allocation-free JSON object scanner
// that extracts the wanted top-level fields. nlohmann's lexer handles one byte
// at a time (and copies every byte twice), which caps reading at ~150 MB/s;
// this scanner skips plain string runs 8 bytes at a time.
//
// It only has to be right when it says yes: anything unusual (any syntax
// error, a wrong type, a duplicate wanted key, deep nesting, an integer that
// nlohmann would not print the same way) returns false and the caller re-parses
// the line with nlohmann, which then accepts it or explains the error.
#include <cstring>

#include "corpus_internal.h"
#include "fathom/data/utf8.h"

namespace fathom::data::corpus_detail {
namespace {

constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
constexpr std::uint64_t kHighs = 0x8080808080808080ULL;

// Nonzero iff some byte of x is zero / below n (n <= 128). Exact as booleans.
inline std::uint64_t has_zero(std::uint64_t x) { return (x - kOnes) & ~x & kHighs; }
inline std::uint64_t has_less(std::uint64_t x, std::uint64_t n) { return (x - kOnes * n) & ~x & kHighs; }

inline bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr int kMaxDepth = 64;  // deeper values fall back to nlohmann

}  // namespace

JsonFieldScanner::JsonFieldScanner(const CorpusOptions& o)
    : names_{o.id_field, o.text_field, o.pair_field, o.label_field} {}

void JsonFieldScanner::ws() {
  while (p_ != end_ && is_ws(*p_)) ++p_;
}

bool JsonFieldScanner::eat(char c) {
  if (p_ == end_ || *p_ != c) return false;
  ++p_;
  return true;
}

bool JsonFieldScanner::read_u4(std::uint32_t& v) {
  if (end_ - p_ < 4) return false;
  v = 0;
  for (int i = 0; i < 4; ++i) {
    int h = hex(p_[i]);
    if (h < 0) return false;
    v = (v << 4) | static_cast<std::uint32_t>(h);
  }
  p_ += 4;
  return true;
}

bool JsonFieldScanner::string(std::string_view& out, std::string& buf) {
  if (!eat('"')) return false;
  const char* start = p_;
  const char* run = p_;    // start of the plain bytes not yet copied to buf
  std::uint64_t high = 0;  // any byte >= 0x80 seen -> validate UTF-8 at the end
  bool escaped = false;    // value lives in buf (else it is [start, close))
  for (;;) {
    // Plain run: no quote, backslash or control byte in the next 8 bytes.
    while (end_ - p_ >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p_, 8);
      if (has_less(w, 0x20) | has_zero(w ^ (kOnes * '"')) | has_zero(w ^ (kOnes * '\\'))) break;
      high |= w;
      p_ += 8;
    }
    if (p_ == end_) return false;  // unterminated
    unsigned char c = static_cast<unsigned char>(*p_);
    if (c == '"') break;
    if (c < 0x20) return false;  // control characters must be escaped
    if (c != '\\') {
      high |= c;
      ++p_;
      continue;
    }
    if (!escaped) {
      buf.clear();
      escaped = true;
    }
    buf.append(run, p_);
    ++p_;
    if (p_ == end_) return false;
    char e = *p_++;
    switch (e) {
      case '"': buf += '"'; break;
      case '\\': buf += '\\'; break;
      case '/': buf += '/'; break;
      case 'b': buf += '\b'; break;
      case 'f': buf += '\f'; break;
      case 'n': buf += '\n'; break;
      case 'r': buf += '\r'; break;
      case 't': buf += '\t'; break;
      case 'u': {
        std::uint32_t cp;
        if (!read_u4(cp)) return false;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // lone low surrogate
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          std::uint32_t lo;
          if (!eat('\\') || !eat('u') || !read_u4(lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        append_utf8(buf, static_cast<char32_t>(cp));
        break;
      }
      default:
        return false;
    }
    run = p_;
  }
  const char* close = p_++;
  if (escaped) buf.append(run, close);
  // Escapes are ASCII, so the raw bytes are valid UTF-8 iff the value is.
  if ((high & kHighs) && !utf8_valid_fast(std::string_view(start, close - start))) return false;
  out = escaped ? std::string_view(buf) : std::string_view(start, close - start);
  return true;
}

bool JsonFieldScanner::number(bool& integer) {
  const char* s = p_;
  eat('-');
  if (p_ == end_ || !is_digit(*p_)) return false;
  // nlohmann rejects numbers that overflow a double (and big integers are
  // parsed as doubles), so track the decimal magnitude of the leading
  // significant digit and decline anything near the limit.
  long mag = 0;
  bool zero = true;
  if (*p_ == '0') {
    ++p_;
  } else {
    const char* b = p_;
    while (p_ != end_ && is_digit(*p_)) ++p_;
    mag = static_cast<long>(p_ - b) - 1;
    zero = false;
  }
  integer = true;
  if (p_ != end_ && *p_ == '.') {
    integer = false;
    ++p_;
    const char* b = p_;
    if (p_ == end_ || !is_digit(*p_)) return false;
    while (p_ != end_ && is_digit(*p_)) {
      if (zero && *p_ != '0') mag = -static_cast<long>(p_ - b) - 1, zero = false;
      ++p_;
    }
  }
  long exp = 0;
  if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
    integer = false;
    ++p_;
    bool neg = false;
    if (p_ != end_ && (*p_ == '+' || *p_ == '-')) neg = *p_++ == '-';
    if (p_ == end_ || !is_digit(*p_)) return false;
    while (p_ != end_ && is_digit(*p_)) {
      if (exp < 1000000) exp = exp * 10 + (*p_ - '0');
      ++p_;
    }
    if (neg) exp = -exp;
  }
  if (!zero && mag + exp > 300) return false;  // maybe not a finite double
  number_ = std::string_view(s, static_cast<std::size_t>(p_ - s));
  return true;
}

bool JsonFieldScanner::literal(const char* word) {
  std::size_t n = std::strlen(word);
  if (static_cast<std::size_t>(end_ - p_) < n || std::memcmp(p_, word, n) != 0) return false;
  p_ += n;
  return true;
}

bool JsonFieldScanner::skip_value(int depth) {
  if (p_ == end_) return false;
  std::string_view ignored;
  bool integer;
  switch (*p_) {
    case '"': return string(ignored, scratch_);
    case 't': return literal("true");
    case 'f': return literal("false");
    case 'n': return literal("null");
    case '{':
    case '[': {
      if (depth >= kMaxDepth) return false;
      const char close = *p_ == '{' ? '}' : ']';
      const bool object = close == '}';
      ++p_;
      ws();
      if (eat(close)) return true;
      for (;;) {
        if (object) {
          if (!string(ignored, scratch_)) return false;
          ws();
          if (!eat(':')) return false;
          ws();
        }
        if (!skip_value(depth + 1)) return false;
        ws();
        if (eat(close)) return true;
        if (!eat(',')) return false;
        ws();
      }
    }
    default: return number(integer);
  }
}

bool JsonFieldScanner::wanted_value(int role, RawRecord& out) {
  std::string* target[] = {&out.id, &out.text, &out.pair, &out.label};
  bool* present[] = {&out.has_id, &out.has_text, &out.has_pair, &out.has_label};
  const bool optional = role == 2 || role == 3;  // pair, label
  if (p_ == end_) return false;
  if (*p_ == '"') {
    std::string_view v;
    if (!string(v, scratch_)) return false;
    target[role]->assign(v.data(), v.size());
    *present[role] = true;
    return true;
  }
  if (*p_ == 'n' && optional) return literal("null");  // null = absent
  bool integer = false;
  if ((*p_ == '-' || is_digit(*p_)) && (role == 0 || role == 3)) {
    // nlohmann prints integers via int64/uint64; accept only what it would print
    // back unchanged: no fraction/exponent, at most 18 digits, not "-0".
    if (!number(integer) || !integer) return false;
    std::size_t digits = number_.size() - (number_[0] == '-');
    if (digits > 18 || number_ == "-0") return false;
    target[role]->assign(number_.data(), number_.size());
    *present[role] = true;
    return true;
  }
  return false;  // wrong type: let nlohmann report it
}

bool JsonFieldScanner::scan(std::string_view line, RawRecord& out) {
  p_ = line.data();
  end_ = p_ + line.size();
  out.has_id = out.has_text = out.has_pair = out.has_label = false;
  unsigned seen = 0;
  ws();
  if (!eat('{')) return false;
  ws();
  if (!eat('}')) {
    for (;;) {
      std::string_view key;
      if (!string(key, key_buf_)) return false;
      ws();
      if (!eat(':')) return false;
      ws();
      int role = -1;
      for (int r = 0; r < 4; ++r) {
        if (!names_[r].empty() && key == names_[r]) role = r;
      }
      if (role < 0) {
        if (!skip_value(1)) return false;
      } else {
        if (seen & (1u << role)) return false;  // duplicate wanted key
        seen |= 1u << role;
        if (!wanted_value(role, out)) return false;
      }
      ws();
      if (eat('}')) break;
      if (!eat(',')) return false;
      ws();
    }
  }
  ws();
  return p_ == end_;
}

}  // namespace fathom::data::corpus_detail
