#include "fathom/data/words.h"

#include "basic_tokenizer.h"

namespace fathom::data {

std::vector<std::string> basic_words(std::string_view text, const TokenizerOptions& options) {
  return detail::BasicTokenizer(options).words(text);
}

}  // namespace fathom::data
