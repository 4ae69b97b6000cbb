#include "fathom/core/strings.h"
#include "fathom/data/tokenizer_factory.h"

#include <nlohmann/json.hpp>

#include "fathom/core/error.h"
#include "fathom/data/word_tokenizer.h"
#include "fathom/data/wordpiece_tokenizer.h"

namespace fathom::data {
namespace {
using nlohmann::json;

const char* const kKeys = "kind, lowercase, strip_accents, split_cjk, max_input_chars_per_word";


void check_kind(std::string_view kind) {
  for (const std::string& k : tokenizer_kinds()) {
    if (k == kind) return;
  }
  throw UsageError("unknown tokenizer kind '" + std::string(kind) + "' (valid: " + join(tokenizer_kinds()) + ")");
}

bool get_bool(const json& j, const char* key) {
  if (!j.is_boolean()) throw UsageError(std::string("tokenizer option '") + key + "' must be true or false");
  return j.get<bool>();
}

json parse(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    throw UsageError("tokenizer options must be a JSON object, got: " + std::string(text.substr(0, 200)));
  }
  return j;
}
}  // namespace

const std::vector<std::string>& tokenizer_kinds() {
  static const std::vector<std::string> kinds = {"word", "wordpiece"};
  return kinds;
}

TokenizerOptions make_tokenizer_options(std::string_view json_text) {
  TokenizerOptions o;
  if (json_text.find_first_not_of(" \t\r\n") == std::string_view::npos) return o;
  const json j = parse(json_text);  // named: items() must not outlive a temporary
  for (const auto& [key, value] : j.items()) {
    if (key == "kind") {
      if (!value.is_string()) throw UsageError("tokenizer option 'kind' must be a string");
    } else if (key == "lowercase") {
      o.lowercase = get_bool(value, "lowercase");
    } else if (key == "strip_accents") {
      if (value.is_null()) {
        o.strip_accents.reset();
      } else {
        o.strip_accents = get_bool(value, "strip_accents");
      }
    } else if (key == "split_cjk") {
      o.split_cjk = get_bool(value, "split_cjk");
    } else if (key == "max_input_chars_per_word") {
      if (!value.is_number_integer() || value.get<std::int64_t>() < 1 || value.get<std::int64_t>() > INT32_MAX) {
        throw UsageError("tokenizer option 'max_input_chars_per_word' must be a positive integer");
      }
      o.max_input_chars_per_word = value.get<std::int32_t>();
    } else {
      throw UsageError("unknown tokenizer option '" + key + "' (valid: " + kKeys + ")");
    }
  }
  return o;
}

std::string tokenizer_options_json(std::string_view kind, const TokenizerOptions& options) {
  json j = {{"kind", std::string(kind)},
            {"lowercase", options.lowercase},
            {"strip_accents", nullptr},
            {"split_cjk", options.split_cjk},
            {"max_input_chars_per_word", options.max_input_chars_per_word}};
  if (options.strip_accents) j["strip_accents"] = *options.strip_accents;
  return j.dump();
}

std::unique_ptr<Tokenizer> make_tokenizer(std::string_view kind, Vocab vocab, const TokenizerOptions& options) {
  check_kind(kind);
  if (kind == "word") return std::make_unique<WordTokenizer>(std::move(vocab), options);
  return std::make_unique<WordpieceTokenizer>(std::move(vocab), options);
}

std::unique_ptr<Tokenizer> load_tokenizer(std::string_view kind, const std::string& vocab_path,
                                          std::string_view options_json) {
  check_kind(kind);
  TokenizerOptions options = make_tokenizer_options(options_json);
  if (options_json.find_first_not_of(" \t\r\n") != std::string_view::npos) {
    json j = parse(options_json);
    if (j.contains("kind") && j["kind"].get<std::string>() != kind) {
      throw UsageError("tokenizer options are for kind '" + j["kind"].get<std::string>() + "', not '" +
                       std::string(kind) + "'");
    }
  }
  return make_tokenizer(kind, Vocab::load(vocab_path), options);
}

}  // namespace fathom::data
