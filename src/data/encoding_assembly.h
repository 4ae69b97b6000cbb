#pragma once
// Shared by the word and wordpiece tokenizers (private to src/data): turning
// per-text token ids into an Encoding, and ids back into text.
#include <cstdint>
#include <string>
#include <vector>

#include "fathom/data/tokenizer.h"
#include "fathom/data/vocab.h"

namespace fathom::data::detail {

struct Piece {
  std::int64_t id;
  std::int32_t begin, end;  // byte span in the text the piece came from
};

// [CLS] a [SEP] (b [SEP]), truncated like HF's "longest_first": drop the last
// token of the longer sequence until it fits (ties drop from b). Throws
// UsageError if max_length > 0 cannot even hold the special tokens.
Encoding assemble(const Vocab& vocab, const std::vector<Piece>& a, const std::vector<Piece>* b,
                  std::int64_t max_length);

// Tokens joined by spaces; with glue_continuations, a "##x" token after
// another token is appended as "x" (HF convert_tokens_to_string). Skips
// [PAD]/[CLS]/[SEP] when skip_special. Throws UsageError on an unknown id.
std::string decode_ids(const Vocab& vocab, const std::vector<std::int64_t>& ids, bool skip_special,
                       bool glue_continuations);

}  // namespace fathom::data::detail
