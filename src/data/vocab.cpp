#include "fathom/data/vocab.h"

#include <algorithm>
#include <functional>

#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"
#include "fathom/data/tokenizer.h"
#include "fathom/data/utf8.h"

namespace fathom::data {
namespace {
const char* const kSpecials[] = {kPad, kUnk, kCls, kSep, kMask};

std::size_t hash_of(std::string_view s) { return std::hash<std::string_view>{}(s); }
}  // namespace

Vocab Vocab::load(const std::string& path) {
  std::string text = read_file(path);  // InputError if missing/unreadable
  if (text.empty()) throw InputError(path, "vocabulary file is empty");
  Vocab v;
  std::vector<std::int64_t> lines;
  std::size_t pos = 0;
  std::int64_t line = 0;
  while (pos < text.size()) {
    ++line;
    std::size_t nl = text.find('\n', pos);
    std::size_t stop = nl == std::string::npos ? text.size() : nl;
    std::size_t len = stop - pos;
    if (len > 0 && text[pos + len - 1] == '\r') --len;  // CRLF files
    v.tokens_.emplace_back(text, pos, len);
    lines.push_back(line);
    pos = stop + 1;
  }
  v.index(path, lines);
  return v;
}

Vocab Vocab::from_tokens(std::vector<std::string> tokens, const std::string& origin) {
  Vocab v;
  v.tokens_ = std::move(tokens);
  std::vector<std::int64_t> lines(v.tokens_.size());
  for (std::size_t i = 0; i < lines.size(); ++i) lines[i] = static_cast<std::int64_t>(i) + 1;
  v.index(origin, lines);
  return v;
}

void Vocab::check_max_size(std::int64_t max_size) {
  if (max_size != 0 && max_size < 5) {
    throw UsageError("vocabulary max_size must be 0 (no limit) or at least 5 (the special tokens), got " +
                     std::to_string(max_size));
  }
}

Vocab Vocab::build(const TokenCounts& counts, const VocabBuildOptions& options) {
  check_max_size(options.max_size);
  std::vector<std::pair<std::string_view, std::int64_t>> kept;
  for (const auto& [token, count] : counts) {
    if (count < options.min_count || token.empty()) continue;
    if (std::find(std::begin(kSpecials), std::end(kSpecials), token) != std::end(kSpecials)) continue;
    kept.emplace_back(token, count);
  }
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  std::size_t room = kept.size();
  if (options.max_size > 0) room = std::min(room, static_cast<std::size_t>(options.max_size) - 5);
  std::vector<std::string> tokens(std::begin(kSpecials), std::end(kSpecials));
  tokens.reserve(5 + room);
  for (std::size_t i = 0; i < room; ++i) tokens.emplace_back(kept[i].first);
  return from_tokens(std::move(tokens), "<built vocabulary>");
}

void Vocab::index(const std::string& origin, const std::vector<std::int64_t>& lines) {
  if (tokens_.size() > static_cast<std::size_t>(INT32_MAX / 2)) {
    throw InputError(origin, "vocabulary too large: " + std::to_string(tokens_.size()) + " tokens");
  }
  std::size_t cap = 16;
  while (cap < 2 * tokens_.size()) cap *= 2;
  slots_.assign(cap, -1);
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    const std::string& t = tokens_[i];
    if (t.empty()) throw InputError(origin, lines[i], "token", "empty line (every line must hold one token)");
    if (t.find_first_of("\r\n") != std::string::npos) {
      throw InputError(origin, lines[i], "token", "token contains a line break");
    }
    std::size_t bad = 0;
    if (!valid_utf8(t, &bad)) {
      throw InputError(origin, lines[i], "token", "invalid UTF-8 at byte " + std::to_string(bad));
    }
    std::size_t s = hash_of(t) & (cap - 1);
    for (; slots_[s] >= 0; s = (s + 1) & (cap - 1)) {
      if (tokens_[slots_[s]] == t) {
        throw InputError(origin, lines[i], "token",
                         "duplicate token '" + t + "' (first on line " + std::to_string(lines[slots_[s]]) + ")");
      }
    }
    slots_[s] = static_cast<std::int32_t>(i);
  }
  std::string missing;
  for (const char* special : kSpecials) {
    if (find(special) >= 0) continue;
    if (!missing.empty()) missing += " ";
    missing += special;
  }
  if (!missing.empty()) throw InputError(origin, "missing required special tokens: " + missing);
  pad_ = find(kPad), unk_ = find(kUnk), cls_ = find(kCls), sep_ = find(kSep), mask_ = find(kMask);
}

void Vocab::save(const std::string& path) const {
  AtomicFile f(path);
  for (const std::string& t : tokens_) f.stream() << t << '\n';
  f.commit();
}

std::int64_t Vocab::find(std::string_view token) const {
  if (slots_.empty()) return -1;
  std::size_t mask = slots_.size() - 1;
  for (std::size_t s = hash_of(token) & mask; slots_[s] >= 0; s = (s + 1) & mask) {
    if (tokens_[slots_[s]] == token) return slots_[s];
  }
  return -1;
}

std::int64_t Vocab::id(std::string_view token) const {
  std::int64_t i = find(token);
  return i >= 0 ? i : unk_;
}

const std::string& Vocab::token(std::int64_t id) const {
  if (id < 0 || id >= size()) {
    throw UsageError("token id " + std::to_string(id) + " out of range [0, " + std::to_string(size()) + ")");
  }
  return tokens_[static_cast<std::size_t>(id)];
}

}  // namespace fathom::data
