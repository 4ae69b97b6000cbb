#pragma once
// Constructing tokenizers by kind name, and their options as JSON text (the
// form stored in model bundles).
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fathom/data/tokenizer.h"
#include "fathom/data/vocab.h"

namespace fathom::data {

// "word", "wordpiece".
const std::vector<std::string>& tokenizer_kinds();

// Parses options JSON: an object with any of "lowercase" (bool),
// "strip_accents" (bool or null = follow lowercase), "split_cjk" (bool),
// "max_input_chars_per_word" (int >= 1) and "kind" (string, not checked
// here). Empty text means defaults. Throws UsageError on malformed JSON, an
// unknown key (naming the valid ones) or a wrong type.
TokenizerOptions make_tokenizer_options(std::string_view json_text);

// The inverse: {"kind": ..., "lowercase": ..., ...}, every key written.
std::string tokenizer_options_json(std::string_view kind, const TokenizerOptions& options);

// Throws UsageError for an unknown kind (naming the valid kinds), or if
// options_json names a different "kind"; InputError for a bad vocab file.
std::unique_ptr<Tokenizer> load_tokenizer(std::string_view kind, const std::string& vocab_path,
                                          std::string_view options_json = {});
std::unique_ptr<Tokenizer> make_tokenizer(std::string_view kind, Vocab vocab, const TokenizerOptions& options = {});

}  // namespace fathom::data
