#pragma once
// Model bundles: a directory any tool can produce (format documented in the
// README, "Bundle format"):
//   fathom.json   format "fathom-bundle", format_version 1, kind builtin|torchscript,
//                 architecture, tokenizer {kind, options...}, max_length,
//                 special_tokens, labels, vocab_size, embedding_dim, hidden_dim,
//                 num_labels, parameter_groups, weights (file name), config (builtin)
//   weights       builtin: "weights.pt"; torchscript: "model.pt" (torch.jit.save)
//   vocab.txt     one token per line, line i = id i
//   labels.txt    one label per line, line i = class i
// load_bundle validates everything and throws InputError naming the file and
// the field: missing files, unknown format version, vocab size != embedding
// rows, label count != logits width, a TorchScript module missing a method,
// wrong output shapes on a probe input.
#include <memory>
#include <string>
#include <vector>

#include "fathom/data/example.h"
#include "fathom/data/tokenizer.h"
#include "fathom/model/model.h"

namespace fathom::model {

inline constexpr int kBundleFormatVersion = 1;

struct BundleInfo {
  int format_version = kBundleFormatVersion;
  std::string kind;             // builtin | torchscript
  std::string architecture;
  std::string tokenizer_kind;   // word | wordpiece
  std::string tokenizer_options_json = "{}";
  std::int64_t max_length = 128;
  std::vector<std::string> labels;
  std::string config_json = "{}";  // builtin: BuiltinConfig JSON
  std::string weights_file;        // relative to the bundle dir
};

struct Bundle {
  std::string dir;
  BundleInfo info;
  std::shared_ptr<Model> model;
  std::shared_ptr<data::Tokenizer> tokenizer;
  std::string weights_sha256;   // provenance for caches (sha256 of the weights file)
  std::int64_t label_index(const std::string& label) const;  // data::kNoLabel if unknown
};

// The model comes back in eval mode on `device`. labels.txt is authoritative
// (fathom.json "labels", when present, must agree). TorchScript bundles may
// name groups in "parameter_groups"; "classifier" is always
// classifier.weight/bias and "embeddings" defaults to the parameter that
// embedding_matrix() returns.
Bundle load_bundle(const std::string& dir, const torch::Device& device = torch::kCPU);

// Writes a builtin bundle atomically enough for resume: files are written to
// temporaries and fathom.json last. Overwrites an existing bundle in `dir`.
// Also writes TorchScript models (their module as "model.pt"). Uses from
// `info`: labels, max_length, weights_file (empty = default name); kind,
// architecture, config and sizes come from the model and tokenizer. Throws
// UsageError if labels/vocabulary do not fit the model.
void save_bundle(const std::string& dir, Model& model, const data::Tokenizer& tokenizer, const BundleInfo& info);

}  // namespace fathom::model
