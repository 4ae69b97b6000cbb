// BuiltinConfig <-> JSON (the "config" object of a builtin bundle's fathom.json).
#include <algorithm>
#include <iterator>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "fathom/core/error.h"
#include "fathom/model/builtin.h"

namespace fathom::model {

std::string BuiltinConfig::to_json() const {
  nlohmann::ordered_json j;
  j["architecture"] = architecture;
  j["vocab_size"] = vocab_size;
  j["num_labels"] = num_labels;
  j["embedding_dim"] = embedding_dim;
  j["hidden_dim"] = hidden_dim;
  j["layers"] = layers;
  j["heads"] = heads;
  j["ff_dim"] = ff_dim;
  j["max_length"] = max_length;
  j["type_vocab"] = type_vocab;
  j["dropout"] = dropout;
  j["pad_id"] = pad_id;
  j["seed"] = seed;
  return j.dump(2);
}

namespace {

// Reads j[key] into `out` if present; a typo'd or mistyped key must not be
// silently replaced by a default, so both are errors.
template <class T>
void read_field(const nlohmann::json& j, const char* key, T& out, const std::string& source, const char* expected) {
  auto it = j.find(key);
  if (it == j.end()) return;
  bool ok;
  if constexpr (std::is_same_v<T, std::string>)
    ok = it->is_string();
  else if constexpr (std::is_same_v<T, double>)
    ok = it->is_number();
  else if constexpr (std::is_unsigned_v<T>)
    ok = it->is_number_unsigned();
  else
    ok = it->is_number_integer();
  if (!ok) throw InputError(source, 0, key, std::string("expected ") + expected + ", got " + it->dump());
  out = it->get<T>();
}

}  // namespace

BuiltinConfig BuiltinConfig::from_json(const std::string& json_text, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(source, std::string("malformed JSON: ") + e.what());
  }
  if (!j.is_object()) throw InputError(source, "expected a JSON object with the builtin model config");

  BuiltinConfig c;
  static const char* kInt = "an integer";
  read_field(j, "architecture", c.architecture, source, "a string (boe, bilstm or transformer)");
  read_field(j, "vocab_size", c.vocab_size, source, kInt);
  read_field(j, "num_labels", c.num_labels, source, kInt);
  read_field(j, "embedding_dim", c.embedding_dim, source, kInt);
  read_field(j, "hidden_dim", c.hidden_dim, source, kInt);
  read_field(j, "layers", c.layers, source, kInt);
  read_field(j, "heads", c.heads, source, kInt);
  read_field(j, "ff_dim", c.ff_dim, source, kInt);
  read_field(j, "max_length", c.max_length, source, kInt);
  read_field(j, "type_vocab", c.type_vocab, source, kInt);
  read_field(j, "dropout", c.dropout, source, "a number");
  read_field(j, "pad_id", c.pad_id, source, kInt);
  read_field(j, "seed", c.seed, source, "a non-negative integer");

  static const char* kKnown[] = {"architecture", "vocab_size", "num_labels", "embedding_dim", "hidden_dim",
                                 "layers",       "heads",      "ff_dim",     "max_length",    "type_vocab",
                                 "dropout",      "pad_id",     "seed"};
  for (const auto& item : j.items()) {
    bool known = std::any_of(std::begin(kKnown), std::end(kKnown), [&](const char* k) { return item.key() == k; });
    if (!known) throw InputError(source, 0, item.key(), "unknown builtin model setting");
  }
  return c;
}

}  // namespace fathom::model
