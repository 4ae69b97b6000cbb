#include "encoding_assembly.h"

#include "fathom/core/error.h"

namespace fathom::data::detail {

Encoding assemble(const Vocab& vocab, const std::vector<Piece>& a, const std::vector<Piece>* b,
                  std::int64_t max_length) {
  std::size_t keep_a = a.size(), keep_b = b ? b->size() : 0;
  const std::size_t specials = b ? 3 : 2;
  if (max_length > 0) {
    if (max_length < static_cast<std::int64_t>(specials)) {
      throw UsageError("max_length " + std::to_string(max_length) + " cannot hold the " +
                       std::to_string(specials) + " special tokens of a " + (b ? "pair" : "single text"));
    }
    const std::size_t room = static_cast<std::size_t>(max_length) - specials;
    if (!b) {
      keep_a = std::min(keep_a, room);
    } else {
      // HF removes one token at a time from the longer side, b on ties.
      while (keep_a + keep_b > room) {
        if (keep_a > keep_b) {
          --keep_a;
        } else {
          --keep_b;
        }
      }
    }
  }
  Encoding enc;
  enc.truncated = keep_a < a.size() || (b && keep_b < b->size());
  const std::size_t n = keep_a + keep_b + specials;
  enc.ids.reserve(n);
  enc.type_ids.reserve(n);
  enc.begin.reserve(n);
  enc.end.reserve(n);
  enc.special.reserve(n);
  auto add = [&](std::int64_t id, std::int64_t type, std::int32_t begin, std::int32_t end, bool special) {
    enc.ids.push_back(id);
    enc.type_ids.push_back(type);
    enc.begin.push_back(begin);
    enc.end.push_back(end);
    enc.special.push_back(special ? 1 : 0);
  };
  add(vocab.cls_id(), 0, 0, 0, true);
  for (std::size_t i = 0; i < keep_a; ++i) add(a[i].id, 0, a[i].begin, a[i].end, false);
  add(vocab.sep_id(), 0, 0, 0, true);
  if (b) {
    for (std::size_t i = 0; i < keep_b; ++i) add((*b)[i].id, 1, (*b)[i].begin, (*b)[i].end, false);
    add(vocab.sep_id(), 1, 0, 0, true);
  }
  return enc;
}

std::string decode_ids(const Vocab& vocab, const std::vector<std::int64_t>& ids, bool skip_special,
                       bool glue_continuations) {
  std::string out;
  for (std::int64_t id : ids) {
    const std::string& token = vocab.token(id);  // UsageError if out of range
    if (skip_special && vocab.is_structural(id)) continue;
    if (glue_continuations && !out.empty() && token.compare(0, 2, "##") == 0) {
      out.append(token, 2, std::string::npos);
      continue;
    }
    if (!out.empty()) out += ' ';
    out += token;
  }
  return out;
}

}  // namespace fathom::data::detail
