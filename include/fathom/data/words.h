#pragma once
// BERT's basic tokenization (cleaning, CJK split, optional lowercasing and
// accent stripping, punctuation split) as plain word strings, with no
// vocabulary: what `stats` and the audits count.
#include <string>
#include <string_view>
#include <vector>

#include "fathom/data/tokenizer.h"

namespace fathom::data {

std::vector<std::string> basic_words(std::string_view text, const TokenizerOptions& options = {});

}  // namespace fathom::data
