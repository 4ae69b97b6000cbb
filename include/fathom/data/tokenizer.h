#pragma once
// Tokenizer contract shared by `word` and `wordpiece`.
//
// Every token carries the byte span [begin, end) of the ORIGINAL text it came
// from (UTF-8 byte offsets), so saliency and attacks can map scores back to
// text. Special tokens ([CLS], [SEP], [PAD]) have begin == end == 0 and
// segment as below. For pairs, offsets of text_b tokens refer to text_b.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fathom::data {

struct Encoding {
  std::vector<std::int64_t> ids;          // [T] token ids, T <= max_length
  std::vector<std::int64_t> type_ids;     // [T] 0 for text_a (and [CLS]), 1 for text_b
  std::vector<std::int32_t> begin, end;   // [T] byte offsets into the source text
  std::vector<std::uint8_t> special;      // [T] 1 for [CLS]/[SEP]/[PAD]
  bool truncated = false;                 // true if tokens were dropped to fit
};

// The five reserved tokens, always ids 0..4 in a fathom-built vocabulary
// (a BERT vocab.txt keeps its own ids; look them up with token_to_id).
inline constexpr const char* kPad = "[PAD]";
inline constexpr const char* kUnk = "[UNK]";
inline constexpr const char* kCls = "[CLS]";
inline constexpr const char* kSep = "[SEP]";
inline constexpr const char* kMask = "[MASK]";

// Text normalization of BERT's basic tokenizer, shared by both kinds. Kept in
// the bundle (options_json) because a vocabulary is only meaningful together
// with the normalization it was built with.
struct TokenizerOptions {
  bool lowercase = true;
  // Unset: strip accents exactly when lowercasing (BERT's rule); set: as given.
  std::optional<bool> strip_accents;
  bool split_cjk = true;                        // every CJK ideograph is its own word
  std::int32_t max_input_chars_per_word = 100;  // wordpiece: longer words -> [UNK]

  bool strips_accents() const { return strip_accents.value_or(lowercase); }
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::string kind() const = 0;  // "word" | "wordpiece"

  // [CLS] a [SEP] (b [SEP]) truncated to max_length (longest-first for pairs).
  // max_length <= 0: no truncation. Never pads.
  virtual Encoding encode(std::string_view text_a, std::optional<std::string_view> text_b,
                          std::int64_t max_length) const = 0;
  // Token strings without specials or ids (for stats/inspection).
  virtual std::vector<std::string> tokenize(std::string_view text) const = 0;
  // ids -> text; special tokens skipped when skip_special; wordpiece joins "##".
  virtual std::string decode(const std::vector<std::int64_t>& ids, bool skip_special = true) const = 0;

  virtual std::int64_t vocab_size() const = 0;
  virtual std::int64_t token_to_id(std::string_view token) const = 0;  // unk_id() if absent
  virtual const std::string& id_to_token(std::int64_t id) const = 0;    // throws if out of range
  std::int64_t pad_id() const { return token_to_id(kPad); }
  std::int64_t unk_id() const { return token_to_id(kUnk); }
  std::int64_t cls_id() const { return token_to_id(kCls); }
  std::int64_t sep_id() const { return token_to_id(kSep); }
  std::int64_t mask_id() const { return token_to_id(kMask); }

  // Writes vocab.txt (one token per line, line i = id i).
  virtual void save_vocab(const std::string& path) const = 0;
  // Options as JSON text (kind, lowercase, strip_accents, ...) for bundles.
  virtual std::string options_json() const = 0;
};

}  // namespace fathom::data
