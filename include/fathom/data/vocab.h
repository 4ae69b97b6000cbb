#pragma once
// Token <-> id mapping backed by a vocab.txt (one token per line, id = line
// index, the format of BERT checkpoints).
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fathom::data {

// Corpus token counts, as collected by the tokenizer builders.
using TokenCounts = std::unordered_map<std::string, std::int64_t>;

struct VocabBuildOptions {
  std::int64_t min_count = 1;  // tokens seen fewer times are left out
  std::int64_t max_size = 0;   // total size including the 5 specials; 0 = no limit
};

class Vocab {
 public:
  Vocab() = default;

  // Reads vocab.txt. Throws InputError naming the file (and line) for: a
  // missing/unreadable file, invalid UTF-8, an empty line, a duplicate token
  // (both line numbers), or missing [PAD] [UNK] [CLS] [SEP] [MASK] (all named).
  // A trailing newline and "\r\n" line ends are accepted.
  static Vocab load(const std::string& path);
  // Same checks as load; `origin` names the source in error messages.
  static Vocab from_tokens(std::vector<std::string> tokens, const std::string& origin = "<vocab>");
  // Specials first as ids 0..4 ([PAD] [UNK] [CLS] [SEP] [MASK]), then tokens
  // with count >= min_count by descending count, ties by token (byte order),
  // so the result does not depend on hash-map iteration order.
  static Vocab build(const TokenCounts& counts, const VocabBuildOptions& options = {});
  // Throws UsageError unless max_size is 0 (no limit) or at least 5 (room for
  // the specials).
  static void check_max_size(std::int64_t max_size);

  // Writes vocab.txt atomically (write-then-rename).
  void save(const std::string& path) const;

  std::int64_t size() const { return static_cast<std::int64_t>(tokens_.size()); }
  bool contains(std::string_view token) const { return find(token) >= 0; }
  // Id of token, or -1 if absent.
  std::int64_t find(std::string_view token) const;
  // Id of token, or the [UNK] id if absent.
  std::int64_t id(std::string_view token) const;
  // Throws UsageError if id is out of range.
  const std::string& token(std::int64_t id) const;
  const std::vector<std::string>& tokens() const { return tokens_; }

  std::int64_t pad_id() const { return pad_; }
  std::int64_t unk_id() const { return unk_; }
  std::int64_t cls_id() const { return cls_; }
  std::int64_t sep_id() const { return sep_; }
  std::int64_t mask_id() const { return mask_; }
  // [PAD], [CLS] or [SEP]: the tokens encode() inserts (Encoding::special).
  bool is_structural(std::int64_t id) const { return id == pad_ || id == cls_ || id == sep_; }

 private:
  void index(const std::string& origin, const std::vector<std::int64_t>& lines);

  std::vector<std::string> tokens_;
  // Open-addressing hash of ids (-1 = empty). Storing ids rather than
  // string_views keeps Vocab safely copyable and lookups allocation-free.
  std::vector<std::int32_t> slots_;
  std::int64_t pad_ = -1, unk_ = -1, cls_ = -1, sep_ = -1, mask_ = -1;
};

}  // namespace fathom::data
