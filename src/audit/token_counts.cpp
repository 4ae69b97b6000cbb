#include "fathom/audit/token_counts.h"

#include <algorithm>
#include <cstring>

#include "fathom/core/error.h"

namespace fathom::audit {
namespace {

// 64-bit string hash: 8 bytes at a time, each mixed with a multiply and a
// xor-shift (keys are short words; quality matters more than speed here only
// for the low bits, which the final avalanche spreads).
std::uint64_t hash_bytes(std::string_view s) {
  std::uint64_t h = 0x9E3779B97F4A7C15ULL ^ (s.size() * 0xC2B2AE3D27D4EB4FULL);
  const char* p = s.data();
  std::size_t n = s.size();
  while (n >= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    h = (h ^ (v * 0xBF58476D1CE4E5B9ULL)) * 0x94D049BB133111EBULL;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  std::uint64_t tail = 0;
  std::memcpy(&tail, p, n);
  h = (h ^ (tail * 0xBF58476D1CE4E5B9ULL)) * 0x94D049BB133111EBULL;
  h ^= h >> 32;
  h *= 0xD6E8FEB86659FD93ULL;
  h ^= h >> 32;
  return h;
}

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(char(std::uint8_t(v) | 0x80));
    v >>= 7;
  }
  out.push_back(char(v));
}

struct Cursor {
  std::string_view in;
  std::size_t at = 0;

  [[noreturn]] static void bad(const char* what) {
    throw Error(std::string("audit: corrupt serialized token counts (") + what + ")");
  }
  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (at >= in.size()) bad("truncated varint");
      const auto b = std::uint8_t(in[at++]);
      v |= std::uint64_t(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    bad("varint too long");
  }
  std::string_view bytes(std::uint64_t n) {
    if (n > in.size() - at) bad("truncated string");
    std::string_view s = in.substr(at, std::size_t(n));
    at += std::size_t(n);
    return s;
  }
};

constexpr std::uint64_t kMagic = 0x31545541;  // "AUT1"

}  // namespace

// ---- StringTable -----------------------------------------------------------------------------

std::int64_t StringTable::find(std::string_view key) const {
  if (slots_.empty()) return -1;
  const std::uint64_t h = hash_bytes(key);
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = std::size_t(h) & mask;; i = (i + 1) & mask) {
    const std::uint32_t s = slots_[i];
    if (s == 0) return -1;
    if (hashes_[s - 1] == std::uint32_t(h) && this->key(s - 1) == key) return s - 1;
  }
}

std::uint32_t StringTable::intern(std::string_view key) {
  if ((size() + 1) * 4 > slots_.size() * 3) grow();  // load factor <= 0.75
  const std::uint64_t h = hash_bytes(key);
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = std::size_t(h) & mask;
  for (;; i = (i + 1) & mask) {
    const std::uint32_t s = slots_[i];
    if (s == 0) break;
    if (hashes_[s - 1] == std::uint32_t(h) && this->key(s - 1) == key) return s - 1;
  }
  if (size() >= 0xFFFFFFFEULL) throw Error("audit: more than 2^32 - 2 distinct tokens on one rank");
  const auto id = std::uint32_t(size());
  arena_.append(key.data(), key.size());
  offsets_.push_back(arena_.size());
  hashes_.push_back(std::uint32_t(h));
  slots_[i] = id + 1;
  return id;
}

void StringTable::grow() {
  const std::size_t n = slots_.empty() ? 1024 : slots_.size() * 2;
  std::vector<std::uint32_t> slots(n, 0);
  const std::size_t mask = n - 1;
  // Slots are placed by the low bits of the hash; the kept 32 bits suffice
  // while the table has at most 2^32 slots, beyond that the key is rehashed.
  for (std::uint32_t id = 0; id < size(); ++id) {
    const std::uint64_t h = n <= (std::size_t(1) << 32) ? hashes_[id] : hash_bytes(key(id));
    std::size_t i = std::size_t(h) & mask;
    while (slots[i] != 0) i = (i + 1) & mask;
    slots[i] = id + 1;
  }
  slots_.swap(slots);
}

std::size_t StringTable::bytes() const {
  return arena_.capacity() + offsets_.capacity() * 8 + slots_.capacity() * 4 + hashes_.capacity() * 4;
}

// ---- TokenLabelCounts ------------------------------------------------------------------------

TokenLabelCounts::TokenLabelCounts(std::vector<std::string> labels)
    : labels_(std::move(labels)), fixed_labels_(!labels_.empty()) {
  label_examples_.assign(labels_.size(), 0);
  counts_.resize(labels_.size());
}

int TokenLabelCounts::label_index(std::string_view label) {
  for (std::size_t i = 0; i < labels_.size(); ++i)
    if (labels_[i] == label) return int(i);
  if (fixed_labels_) return -1;
  labels_.emplace_back(label);
  label_examples_.push_back(0);
  counts_.emplace_back();
  return int(labels_.size() - 1);
}

void TokenLabelCounts::begin_example(int label) {
  if (label < 0 || std::size_t(label) >= labels_.size())
    throw Error("audit: label index " + std::to_string(label) + " out of range");
  ++examples_;
  ++label_examples_[std::size_t(label)];
  current_label_ = label;
}

std::uint32_t TokenLabelCounts::intern(std::string_view token) {
  const std::uint32_t id = table_.intern(token);
  if (id >= last_seen_.size()) last_seen_.resize(std::max<std::size_t>(id + 1, last_seen_.size() * 2), 0);
  return id;
}

void TokenLabelCounts::add_token(std::string_view token) {
  const std::uint32_t id = intern(token);
  // last_seen_ holds 1-based example numbers, so 0 means "never".
  if (last_seen_[id] == examples_) return;
  last_seen_[id] = examples_;
  auto& c = counts_[std::size_t(current_label_)];
  if (id >= c.size()) c.resize(std::max<std::size_t>(id + 1, c.size() * 2), 0);
  ++c[id];
}

std::int64_t TokenLabelCounts::document_frequency(std::uint32_t id) const {
  std::int64_t n = 0;
  for (std::size_t l = 0; l < labels_.size(); ++l) n += count(id, int(l));
  return n;
}

std::vector<std::uint32_t> TokenLabelCounts::sorted_ids() const {
  std::vector<std::uint32_t> ids(table_.size());
  for (std::uint32_t i = 0; i < ids.size(); ++i) ids[i] = i;
  std::sort(ids.begin(), ids.end(), [&](std::uint32_t a, std::uint32_t b) { return table_.key(a) < table_.key(b); });
  return ids;
}

std::size_t TokenLabelCounts::bytes() const {
  std::size_t b = table_.bytes() + last_seen_.capacity() * 8;
  for (const auto& c : counts_) b += c.capacity() * 8;
  return b;
}

std::string TokenLabelCounts::serialize() const {
  std::string out;
  put_varint(out, kMagic);
  put_varint(out, labels_.size());
  for (std::size_t l = 0; l < labels_.size(); ++l) {
    put_varint(out, labels_[l].size());
    out += labels_[l];
    put_varint(out, std::uint64_t(label_examples_[l]));
  }
  put_varint(out, std::uint64_t(examples_));
  put_varint(out, table_.size());
  for (std::uint32_t id = 0; id < table_.size(); ++id) {
    const std::string_view k = table_.key(id);
    put_varint(out, k.size());
    out.append(k.data(), k.size());
    std::size_t nonzero = 0;
    for (std::size_t l = 0; l < labels_.size(); ++l) nonzero += count(id, int(l)) != 0;
    put_varint(out, nonzero);
    for (std::size_t l = 0; l < labels_.size(); ++l) {
      if (const std::int64_t c = count(id, int(l))) {
        put_varint(out, l);
        put_varint(out, std::uint64_t(c));
      }
    }
  }
  return out;
}

std::vector<std::string> TokenLabelCounts::serialized_labels(std::string_view bytes) {
  Cursor in{bytes};
  if (in.varint() != kMagic) Cursor::bad("bad magic");
  const std::uint64_t nl = in.varint();
  std::vector<std::string> names;
  for (std::uint64_t l = 0; l < nl; ++l) {
    names.emplace_back(in.bytes(in.varint()));
    in.varint();  // the label's examples
  }
  return names;
}

void TokenLabelCounts::merge_serialized(std::string_view bytes) {
  Cursor in{bytes};
  if (in.varint() != kMagic) Cursor::bad("bad magic");
  const std::uint64_t nl = in.varint();
  std::vector<int> map(std::size_t(std::min<std::uint64_t>(nl, 1u << 20)));
  if (map.size() != nl) Cursor::bad("too many labels");
  for (std::uint64_t l = 0; l < nl; ++l) {
    const std::string_view name = in.bytes(in.varint());
    const int to = label_index(name);
    if (to < 0) throw Error("audit: merged counts name label '" + std::string(name) + "' outside the label set");
    map[std::size_t(l)] = to;
    label_examples_[std::size_t(to)] += std::int64_t(in.varint());
  }
  examples_ += std::int64_t(in.varint());
  const std::uint64_t nt = in.varint();
  for (std::uint64_t t = 0; t < nt; ++t) {
    const std::string_view key = in.bytes(in.varint());
    const std::uint32_t id = intern(key);
    const std::uint64_t nz = in.varint();
    for (std::uint64_t j = 0; j < nz; ++j) {
      const std::uint64_t l = in.varint();
      if (l >= nl) Cursor::bad("label index out of range");
      auto& c = counts_[std::size_t(map[std::size_t(l)])];
      if (id >= c.size()) c.resize(std::max<std::size_t>(id + 1, c.size() * 2), 0);
      c[id] += std::int64_t(in.varint());
    }
  }
  if (in.at != bytes.size()) Cursor::bad("trailing bytes");
}

// ---- n-grams ---------------------------------------------------------------------------------

void add_ngrams(TokenLabelCounts& counts, const std::vector<std::string>& words, int max_n, std::string& scratch) {
  const std::size_t w = words.size();
  for (std::size_t i = 0; i < w; ++i) {
    counts.add_token(words[i]);
    scratch = words[i];
    for (int n = 2; n <= max_n && i + std::size_t(n) <= w; ++n) {
      scratch += ' ';
      scratch += words[i + std::size_t(n) - 1];
      counts.add_token(scratch);
    }
  }
}

}  // namespace fathom::audit
