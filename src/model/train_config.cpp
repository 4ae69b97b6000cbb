// What identifies a training run (for resume) and the metrics.jsonl line
// format: the one writer/reader pair of both.
#include <nlohmann/json.hpp>

#include "fathom/core/error.h"
#include "fathom/core/hash.h"
#include "train_internal.h"

namespace fathom::model {
namespace {

using nlohmann::json;

json corpus_options_json(const data::CorpusOptions& o) {
  return json{{"format", o.format},
              {"id_field", o.id_field},
              {"text_field", o.text_field},
              {"pair_field", o.pair_field},
              {"label_field", o.label_field},
              {"label_set", o.label_set},
              {"require_label", o.require_label},
              {"on_error", o.on_error == data::CorpusOptions::OnError::skip ? "skip" : "fail"},
              {"allow_empty_text", o.allow_empty_text}};
}

json optional_number(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

}  // namespace

std::string train_config_json(const TrainOptions& o) {
  // Files are identified by content, not path: rerunning from another
  // directory (relative paths) must still resume, an edited corpus must not.
  json j{{"format", "fathom-train-config"},
         {"format_version", 1},
         {"corpus_sha256", sha256_file(o.corpus)},
         {"vocab_sha256", o.vocab.empty() ? std::string() : sha256_file(o.vocab)},
         {"arch", o.arch},
         {"tokenizer", o.tokenizer},
         {"lowercase", o.lowercase},
         {"min_count", o.min_count},
         {"max_vocab", o.max_vocab},
         {"max_length", o.max_length},
         {"embedding_dim", o.embedding_dim},
         {"hidden_dim", o.hidden_dim},
         {"layers", o.layers},
         {"heads", o.heads},
         {"ff_dim", o.ff_dim},
         {"dropout", o.dropout},
         {"optimizer", o.optimizer},
         {"lr", o.lr},
         {"weight_decay", o.weight_decay},
         {"l2_last", o.l2_last},
         {"batch", o.batch},
         {"seed", o.seed},
         {"labels", o.labels},
         {"corpus_options", corpus_options_json(o.corpus_options)}};
  return j.dump();  // std::map-backed object: keys sorted, so canonical
}

std::string config_hash(const std::string& config_json) { return sha256_hex(config_json); }

std::string config_difference(const std::string& old_json, const std::string& new_json) {
  json a = json::parse(old_json, nullptr, false);
  json b = json::parse(new_json, nullptr, false);
  if (a.is_discarded() || b.is_discarded() || !a.is_object() || !b.is_object()) return "";
  std::string out;
  auto note = [&](const std::string& key, const json& was, const json& now) {
    if (!out.empty()) out += "; ";
    out += key + " was " + (was.is_null() ? "unset" : was.dump()) + ", now " +
           (now.is_null() ? "unset" : now.dump());
  };
  for (auto& [key, value] : a.items())
    if (!b.contains(key) || b[key] != value) note(key, value, b.contains(key) ? b[key] : json());
  for (auto& [key, value] : b.items())
    if (!a.contains(key)) note(key, json(), value);
  return out;
}

std::string epoch_metrics_json(const EpochMetrics& m) {
  // ordered_json: the documented field order, easier to read in a terminal.
  nlohmann::ordered_json j{{"epoch", m.epoch},
                           {"train_loss", m.train_loss},
                           {"dev_loss", optional_number(m.dev_loss)},
                           {"dev_accuracy", optional_number(m.dev_accuracy)},
                           {"lr", m.lr},
                           {"examples_per_s", m.examples_per_s},
                           {"seconds", m.seconds}};
  return j.dump();
}

EpochMetrics epoch_metrics_from_json(const std::string& text, const std::string& source) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw InputError(source, 0, "", "not a JSON object");
  auto number = [&](const char* key, bool nullable) -> std::optional<double> {
    if (!j.contains(key)) throw InputError(source, 0, key, "missing");
    const json& v = j[key];
    if (v.is_null() && nullable) return std::nullopt;
    if (!v.is_number()) throw InputError(source, 0, key, "expected a number, got " + v.dump());
    return v.get<double>();
  };
  EpochMetrics m;
  m.epoch = static_cast<std::int64_t>(*number("epoch", false));
  m.train_loss = *number("train_loss", false);
  m.dev_loss = number("dev_loss", true);
  m.dev_accuracy = number("dev_accuracy", true);
  m.lr = *number("lr", false);
  m.examples_per_s = *number("examples_per_s", false);
  m.seconds = *number("seconds", false);
  return m;
}

}  // namespace fathom::model
