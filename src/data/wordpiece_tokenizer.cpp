#include "fathom/data/wordpiece_tokenizer.h"

#include <algorithm>
#include <unordered_set>

#include "basic_tokenizer.h"
#include "fathom/core/error.h"

namespace fathom::data {
namespace {
bool is_lead_byte(char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }

// Byte offset of every code point start in s, plus s.size().
void char_bounds(std::string_view s, std::vector<std::size_t>& bounds) {
  bounds.clear();
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (is_lead_byte(s[i])) bounds.push_back(i);
  }
  bounds.push_back(s.size());
}

// Splits basic words into pieces; scratch buffers live across words.
class Splitter {
 public:
  Splitter(const Vocab& vocab, std::int32_t max_chars) : vocab_(vocab), max_chars_(max_chars) {}

  // HF WordpieceTokenizer.tokenize for one word: repeatedly take the longest
  // vocabulary entry starting at the current character ("##"-prefixed after
  // the first); if none exists the whole word is one [UNK].
  void split(const detail::BasicWord& w, std::vector<TokenPiece>& out) {
    char_bounds(w.text, bounds_);
    const std::size_t nchars = bounds_.size() - 1;
    auto [word_begin, word_end] = w.span();
    if (nchars > static_cast<std::size_t>(max_chars_)) {
      out.push_back({vocab_.unk_id(), word_begin, word_end});
      return;
    }
    // scratch_ = "##" + word. A candidate starting at byte sb > 0 is made
    // contiguous by writing "##" over scratch_[sb, sb + 2), i.e. over word
    // bytes before sb, which are already consumed: no string per lookup.
    scratch_.assign("##");
    scratch_.append(w.text);
    const std::string_view all(scratch_);
    const std::size_t first_piece = out.size();
    for (std::size_t start = 0; start < nchars;) {
      const std::size_t sb = bounds_[start];
      if (start > 0) scratch_[sb] = scratch_[sb + 1] = '#';
      std::int64_t id = -1;
      std::size_t end = nchars;
      for (; end > start; --end) {
        std::string_view candidate = start == 0 ? all.substr(2, bounds_[end]) : all.substr(sb, 2 + bounds_[end] - sb);
        if ((id = vocab_.find(candidate)) >= 0) break;
      }
      if (id < 0) {
        out.resize(first_piece);
        out.push_back({vocab_.unk_id(), word_begin, word_end});
        return;
      }
      auto [b, e] = w.span(sb, bounds_[end]);
      out.push_back({id, b, e});
      start = end;
    }
  }

 private:
  const Vocab& vocab_;
  std::int32_t max_chars_;
  std::vector<std::size_t> bounds_;
  std::string scratch_;
};

struct Scored {
  std::string_view token;
  std::int64_t score;
};
// Descending score, then token bytes: independent of hash-map order.
void sort_scored(std::vector<Scored>& v) {
  std::sort(v.begin(), v.end(), [](const Scored& a, const Scored& b) {
    return a.score != b.score ? a.score > b.score : a.token < b.token;
  });
}
}  // namespace

WordpieceTokenizer WordpieceTokenizer::learn(const TokenCounts& word_counts, const BuildOptions& options) {
  check_vocab_build_options(options.max_size, options.text);
  const auto max_chars = static_cast<std::size_t>(options.text.max_input_chars_per_word);
  const auto suffix_chars = static_cast<std::size_t>(std::max<std::int32_t>(options.max_suffix_chars, 0));
  TokenCounts chars, suffixes;
  std::vector<Scored> words;
  std::vector<std::size_t> bounds;
  for (const auto& [word, count] : word_counts) {
    char_bounds(word, bounds);
    const std::size_t n = bounds.size() - 1;
    if (n > max_chars) continue;  // always [UNK]; learning from it would be wasted
    for (std::size_t i = 0; i < n; ++i) chars[word.substr(bounds[i], bounds[i + 1] - bounds[i])] += count;
    if (n < 2) continue;  // single characters are covered by step 2
    if (count >= options.min_word_count) {
      words.push_back({word, count});
      continue;
    }
    // A rare word is split at run time; its endings are what "##" pieces match.
    for (std::size_t len = 2; len <= suffix_chars && len < n; ++len) {
      suffixes["##" + word.substr(bounds[n - len])] += count;
    }
  }

  std::vector<Scored> alphabet;
  for (const auto& [c, count] : chars) alphabet.push_back({c, count});
  sort_scored(alphabet);
  std::vector<Scored> rest = std::move(words);
  for (const auto& [piece, count] : suffixes) {
    if (count >= options.min_piece_count) rest.push_back({piece, count});
  }
  sort_scored(rest);

  const std::size_t limit =
      options.max_size > 0 ? static_cast<std::size_t>(options.max_size) : static_cast<std::size_t>(-1);
  std::vector<std::string> tokens = {kPad, kUnk, kCls, kSep, kMask};
  std::unordered_set<std::string> seen(tokens.begin(), tokens.end());
  auto add = [&](std::string token) {
    if (tokens.size() < limit && seen.insert(token).second) tokens.push_back(std::move(token));
  };
  for (const Scored& c : alphabet) {
    if (tokens.size() + 2 > limit) break;  // keep "c" and "##c" together
    add(std::string(c.token));
    add("##" + std::string(c.token));
  }
  for (const Scored& s : rest) add(std::string(s.token));
  return WordpieceTokenizer(Vocab::from_tokens(std::move(tokens), "<built wordpiece vocabulary>"), options.text);
}

WordpieceTokenizer::WordpieceTokenizer(Vocab vocab, TokenizerOptions options)
    : VocabTokenizerOf(std::move(vocab), options) {
  if (options.max_input_chars_per_word < 1) throw UsageError("max_input_chars_per_word must be at least 1");
}

std::vector<TokenPiece> WordpieceTokenizer::pieces(std::string_view text) const {
  std::vector<TokenPiece> out;
  Splitter splitter(vocab(), options().max_input_chars_per_word);
  detail::BasicTokenizer(options()).run(text, [&](const detail::BasicWord& w) { splitter.split(w, out); });
  return out;
}

}  // namespace fathom::data
