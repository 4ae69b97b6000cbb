#pragma once
// Token-label document counts: for every token (an n-gram of words, joined by
// single spaces) and every label, the number of examples with that label in
// which the token occurs at least once. Built one example at a time while a
// corpus streams past, merged across ranks through a compact serialisation.
//
// Memory: O(distinct tokens), never O(examples): per token its bytes, ~24
// bytes of table and 8 bytes per label of counts (dense [label][token]).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fathom::audit {

// Interned strings with dense ids 0, 1, 2, ... in order of first insertion:
// an open-addressing hash table over one byte arena (no per-key allocation).
class StringTable {
 public:
  // The id of `key`, inserting it if new.
  std::uint32_t intern(std::string_view key);
  // The id of `key`, or -1 when absent.
  std::int64_t find(std::string_view key) const;
  std::string_view key(std::uint32_t id) const {
    return std::string_view(arena_.data() + offsets_[id], offsets_[id + 1] - offsets_[id]);
  }
  std::size_t size() const { return offsets_.size() - 1; }
  std::size_t bytes() const;  // memory held (arena, offsets, slots)

 private:
  void grow();
  std::string arena_;
  std::vector<std::uint64_t> offsets_{0};  // key i is arena_[offsets_[i], offsets_[i+1])
  std::vector<std::uint32_t> slots_;       // id + 1; 0 = empty
  std::vector<std::uint32_t> hashes_;      // low 32 bits of each key's hash (cheap rehash, fewer compares)
};

class TokenLabelCounts {
 public:
  // labels: the label set in order, or empty to add labels as they are seen.
  explicit TokenLabelCounts(std::vector<std::string> labels = {});

  // Index of `label`, added at the end if new (and no fixed set was given;
  // with a fixed set an unknown label returns -1).
  int label_index(std::string_view label);

  // Counting one example: begin_example(label), then add_token for every
  // token occurrence (repeats within the example are counted once), then
  // nothing: the next begin_example closes it.
  void begin_example(int label);
  void add_token(std::string_view token);

  // Merges counts produced by serialize() (labels are matched by name).
  // Throws fathom::Error if `bytes` is not what serialize wrote.
  void merge_serialized(std::string_view bytes);
  // Sparse: labels, per-label example totals, then each token with its
  // non-zero (label, count) pairs, integers as LEB128 varints.
  std::string serialize() const;
  // The label names a serialize() result holds, in its order.
  static std::vector<std::string> serialized_labels(std::string_view bytes);

  const std::vector<std::string>& labels() const { return labels_; }
  std::int64_t examples() const { return examples_; }
  std::int64_t label_examples(int label) const { return label_examples_[std::size_t(label)]; }
  std::size_t tokens() const { return table_.size(); }
  std::string_view token(std::uint32_t id) const { return table_.key(id); }
  std::int64_t find(std::string_view token) const { return table_.find(token); }
  // Examples with label `label` that contain token `id`.
  std::int64_t count(std::uint32_t id, int label) const {
    const auto& c = counts_[std::size_t(label)];
    return id < c.size() ? c[id] : 0;
  }
  // Examples that contain token `id` (all labels).
  std::int64_t document_frequency(std::uint32_t id) const;
  // Token ids sorted by their bytes (the output order; same at any rank count).
  std::vector<std::uint32_t> sorted_ids() const;
  std::size_t bytes() const;  // approximate memory held

 private:
  std::uint32_t intern(std::string_view token);
  std::vector<std::string> labels_;
  bool fixed_labels_ = false;
  std::vector<std::int64_t> label_examples_;
  std::int64_t examples_ = 0;
  StringTable table_;
  std::vector<std::vector<std::int64_t>> counts_;  // [label][token id]
  std::vector<std::int64_t> last_seen_;           // [token id] example number that last counted it
  int current_label_ = -1;
};

// Adds the n-grams (n = 1..max_n) of `words` to `counts` for the current
// example, each n-gram as its words joined by single spaces. `scratch` is a
// reusable buffer. N-grams never span two calls (text and text_pair are
// separate segments).
void add_ngrams(TokenLabelCounts& counts, const std::vector<std::string>& words, int max_n, std::string& scratch);

}  // namespace fathom::audit
