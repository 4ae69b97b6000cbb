// Bundle reader/writer. Loading validates everything a method will later rely
// on, so a bad bundle fails here with the file and field named instead of
// deep inside an influence run.
#include "fathom/model/bundle.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <unistd.h>

#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"
#include "fathom/core/hash.h"
#include "fathom/data/tokenizer_factory.h"
#include "fathom/model/builtin.h"
#include "torchscript_model.h"

namespace fathom::model {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::int64_t Bundle::label_index(const std::string& label) const {
  auto it = std::find(info.labels.begin(), info.labels.end(), label);
  return it == info.labels.end() ? data::kNoLabel : static_cast<std::int64_t>(it - info.labels.begin());
}

namespace {

constexpr const char* kManifest = "fathom.json";
constexpr const char* kVocab = "vocab.txt";
constexpr const char* kLabels = "labels.txt";
constexpr const char* kFormat = "fathom-bundle";

std::string in_dir(const std::string& dir, const std::string& name) { return (fs::path(dir) / name).string(); }

std::string shape_text(const torch::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

// Lines of a text file; "\r\n" accepted, a trailing newline adds no line.
std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, "cannot open file");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

// Field access on fathom.json with the field's name in every error.
class Manifest {
 public:
  Manifest(std::string path, json j) : path_(std::move(path)), j_(std::move(j)) {}
  const std::string& path() const { return path_; }
  bool has(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }
  const json& require(const char* key) const {
    if (!has(key)) throw InputError(path_, 0, key, "missing (required in a fathom bundle)");
    return j_.at(key);
  }
  std::string string(const char* key) const {
    const json& v = require(key);
    if (!v.is_string()) throw InputError(path_, 0, key, "expected a string, got " + v.dump());
    return v.get<std::string>();
  }
  std::int64_t integer(const char* key) const {
    const json& v = require(key);
    if (!v.is_number_integer()) throw InputError(path_, 0, key, "expected an integer, got " + v.dump());
    return v.get<std::int64_t>();
  }
  const json& object(const char* key) const {
    const json& v = require(key);
    if (!v.is_object()) throw InputError(path_, 0, key, "expected an object, got " + v.dump());
    return v;
  }
  // An optional integer that, when present, must equal what the files say.
  void check_optional_size(const char* key, std::int64_t actual, const std::string& what) const {
    if (!has(key)) return;
    std::int64_t declared = integer(key);
    if (declared != actual)
      throw InputError(path_, 0, key, "declares " + std::to_string(declared) + " but " + what + " is " +
                                           std::to_string(actual));
  }

 private:
  std::string path_;
  json j_;
};

Manifest read_manifest(const std::string& dir) {
  if (!fs::is_directory(dir)) throw InputError(dir, "not a directory (expected a model bundle)");
  std::string path = in_dir(dir, kManifest);
  if (!fs::exists(path))
    throw InputError(path, "missing: a model bundle needs fathom.json (plus its weights, vocab.txt and labels.txt)");
  json j;
  try {
    j = json::parse(read_file(path));
  } catch (const json::parse_error& e) {
    throw InputError(path, std::string("malformed JSON: ") + e.what());
  }
  if (!j.is_object()) throw InputError(path, "expected a JSON object");
  Manifest m(path, std::move(j));

  std::string format = m.string("format");
  if (format != kFormat)
    throw InputError(path, 0, "format", "expected \"" + std::string(kFormat) + "\", got \"" + format + "\"");
  std::int64_t version = m.integer("format_version");
  if (version != kBundleFormatVersion)
    throw InputError(path, 0, "format_version",
                     "unsupported version " + std::to_string(version) + " (this fathom reads version " +
                         std::to_string(kBundleFormatVersion) + ")");
  return m;
}

std::string require_file(const std::string& dir, const std::string& name, const std::string& what) {
  std::string path = in_dir(dir, name);
  if (!fs::is_regular_file(path)) throw InputError(path, "missing: the bundle's " + what);
  return path;
}

std::vector<std::string> read_labels(const std::string& path) {
  auto labels = read_lines(path);
  if (labels.empty()) throw InputError(path, "no labels (expected one label per line, line i = class i)");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i].empty()) throw InputError(path, static_cast<std::int64_t>(i + 1), "label", "empty label");
    if (!seen.insert(labels[i]).second)
      throw InputError(path, static_cast<std::int64_t>(i + 1), "label", "duplicate label '" + labels[i] + "'");
  }
  return labels;
}

detail::ParameterGroups read_groups(const Manifest& m) {
  detail::ParameterGroups groups;
  if (!m.has("parameter_groups")) return groups;
  const json& g = m.object("parameter_groups");
  for (const auto& item : g.items()) {
    bool ok = item.value().is_array() &&
              std::all_of(item.value().begin(), item.value().end(), [](const json& v) { return v.is_string(); });
    if (!ok)
      throw InputError(m.path(), 0, "parameter_groups." + item.key(), "expected an array of parameter names");
    groups[item.key()] = item.value().get<std::vector<std::string>>();
  }
  return groups;
}

std::shared_ptr<Model> load_builtin(const Manifest& m, const std::string& weights, BundleInfo& info) {
  const json& config_json = m.object("config");
  BuiltinConfig config;
  try {
    config = BuiltinConfig::from_json(config_json.dump(), m.path());
  } catch (const InputError& e) {
    throw InputError(e.file(), 0, "config" + (e.field().empty() ? "" : "." + e.field()), e.problem());
  }
  if (config.architecture != info.architecture)
    throw InputError(m.path(), 0, "architecture",
                     "\"" + info.architecture + "\" but config.architecture is \"" + config.architecture + "\"");
  if (config.architecture == "transformer" && info.max_length > config.max_length)
    throw InputError(m.path(), 0, "max_length",
                     std::to_string(info.max_length) + " exceeds the transformer's positions (config.max_length " +
                         std::to_string(config.max_length) + ")");
  std::shared_ptr<Model> model;
  try {
    model = make_builtin(config);
  } catch (const UsageError& e) {
    throw InputError(m.path(), 0, "config", e.what());
  }
  model->load_weights(weights);
  info.config_json = config.to_json();
  return model;
}

// Runs one probe step; a scripted method that throws is the bundle's fault.
template <class F>
auto probe_step(const std::string& file, const std::string& method, F&& f) {
  try {
    return f();
  } catch (const c10::Error& e) {
    throw InputError(file, 0, method,
                     std::string("failed on a probe batch of 2x4 tokens: ") + e.what_without_backtrace());
  } catch (const Error&) {
    throw;  // already names file and field
  } catch (const std::exception& e) {  // e.g. a `raise` in the scripted code
    throw InputError(file, 0, method, std::string("failed on a probe batch of 2x4 tokens: ") + e.what());
  }
}

void expect_shape(const torch::Tensor& t, std::vector<std::int64_t> expected, const std::string& file,
                  const std::string& method, const std::string& what) {
  if (t.defined() && t.sizes() == torch::IntArrayRef(expected)) return;
  std::ostringstream want;
  want << torch::IntArrayRef(expected);
  throw InputError(file, 0, method,
                   what + " has shape " + (t.defined() ? shape_text(t) : std::string("(undefined)")) +
                       " on a probe batch of 2x4 tokens, expected " + want.str());
}

// Two short rows (one padded) through every entry point, checking the shapes
// the contract promises and logits == features @ W^T + b.
void probe(Model& model, const data::Tokenizer& tokenizer, const std::string& file) {
  torch::NoGradGuard no_grad;
  const std::int64_t v = model.vocab_size();
  const std::int64_t cls = tokenizer.cls_id(), sep = tokenizer.sep_id(), pad = tokenizer.pad_id();
  auto any = [&](std::int64_t i) { return i % v; };
  auto ids = torch::tensor({cls, any(5), any(6), sep, cls, any(7), sep, pad}, torch::kLong).view({2, 4});
  auto mask = torch::tensor({1, 1, 1, 1, 1, 1, 1, 0}, torch::kLong).view({2, 4});
  auto type_ids = torch::zeros({2, 4}, torch::kLong);
  auto dev = model.device();
  ids = ids.to(dev), mask = mask.to(dev), type_ids = type_ids.to(dev);

  const std::int64_t c = model.num_labels(), h = model.hidden_dim(), e = model.embedding_dim();
  auto matrix = probe_step(file, "embedding_matrix", [&] { return model.embedding_matrix(); });
  expect_shape(matrix, {v, e}, file, "embedding_matrix", "the embedding matrix");
  auto emb = probe_step(file, "embed", [&] { return model.embed(ids); });
  expect_shape(emb, {2, 4, e}, file, "embed", "the output");
  auto out = probe_step(file, "forward_from_embeddings", [&] { return model.forward_from_embeddings(emb, mask, type_ids); });
  expect_shape(out.logits, {2, c}, file, "forward_from_embeddings", "logits (labels.txt has " + std::to_string(c) + " labels)");
  expect_shape(out.features, {2, h}, file, "forward_from_embeddings", "features");

  torch::Tensor weight, bias;
  for (const auto& [name, tensor] : model.named_parameters()) {
    if (name == "classifier.weight") weight = tensor;
    if (name == "classifier.bias") bias = tensor;
  }
  auto linear = torch::nn::functional::linear(out.features, weight, bias);
  if (!torch::allclose(linear, out.logits, 1e-4, 1e-5))
    throw InputError(file, 0, "forward_from_embeddings",
                     "logits differ from features @ classifier.weight^T + classifier.bias (max difference " +
                         std::to_string((linear - out.logits).abs().max().item<double>()) +
                         "): features must be the classifier layer's input");

  if (auto* scripted = dynamic_cast<detail::TorchScriptModel*>(&model)) {
    auto logits = probe_step(file, "forward", [&] { return scripted->scripted_forward(ids, mask, type_ids); });
    expect_shape(logits, {2, c}, file, "forward", "logits");
    if (!torch::allclose(logits, out.logits, 1e-4, 1e-5))
      throw InputError(file, 0, "forward", "logits differ from forward_from_embeddings(embed(ids), mask, type_ids)");
  }
}

}  // namespace

Bundle load_bundle(const std::string& dir, const torch::Device& device) {
  Manifest m = read_manifest(dir);
  Bundle b;
  b.dir = dir;
  BundleInfo& info = b.info;
  info.kind = m.string("kind");
  if (info.kind != "builtin" && info.kind != "torchscript")
    throw InputError(m.path(), 0, "kind", "expected \"builtin\" or \"torchscript\", got \"" + info.kind + "\"");
  info.architecture = m.string("architecture");
  const json& tokenizer = m.object("tokenizer");
  if (!tokenizer.contains("kind") || !tokenizer.at("kind").is_string())
    throw InputError(m.path(), 0, "tokenizer.kind", "missing (required: word or wordpiece)");
  info.tokenizer_kind = tokenizer.at("kind").get<std::string>();
  info.tokenizer_options_json = tokenizer.dump();
  info.max_length = m.integer("max_length");
  if (info.max_length < 2) throw InputError(m.path(), 0, "max_length", "must be >= 2 ([CLS] and [SEP])");
  info.weights_file = m.string("weights");

  std::string weights = require_file(dir, info.weights_file, "weights (fathom.json field 'weights')");
  std::string vocab_path = require_file(dir, kVocab, "vocabulary (one token per line)");
  std::string labels_path = require_file(dir, kLabels, "label list (one label per line)");
  info.labels = read_labels(labels_path);

  try {
    b.tokenizer = data::load_tokenizer(info.tokenizer_kind, vocab_path, info.tokenizer_options_json);
  } catch (const UsageError& e) {
    throw InputError(m.path(), 0, "tokenizer", e.what());
  }

  if (info.kind == "builtin") {
    b.model = load_builtin(m, weights, info);
    b.model->to(device);
  } else {
    auto module = detail::load_torchscript_module(weights, device);
    b.model = std::make_shared<detail::TorchScriptModel>(std::move(module), info.architecture, weights, read_groups(m));
  }
  b.model->train(false);  // bundles are for explaining: deterministic (no dropout) by default

  const auto vocab_lines = static_cast<std::int64_t>(read_lines(vocab_path).size());
  if (vocab_lines != b.model->vocab_size())
    throw InputError(vocab_path, 0, "vocab_size",
                     std::to_string(vocab_lines) + " tokens (lines) but the model's embedding matrix has " +
                         std::to_string(b.model->vocab_size()) + " rows");
  const auto label_count = static_cast<std::int64_t>(info.labels.size());
  if (label_count != b.model->num_labels())
    throw InputError(labels_path, 0, "num_labels",
                     std::to_string(label_count) + " labels (lines) but the model's logits have width " +
                         std::to_string(b.model->num_labels()));
  if (m.has("labels")) {
    const json& declared = m.require("labels");
    if (!declared.is_array() || declared != json(info.labels))
      throw InputError(m.path(), 0, "labels", "differs from labels.txt " + json(info.labels).dump());
  }
  m.check_optional_size("vocab_size", vocab_lines, "vocab.txt's line count");
  m.check_optional_size("num_labels", label_count, "labels.txt's line count");
  m.check_optional_size("embedding_dim", b.model->embedding_dim(), "the model's embedding width");
  m.check_optional_size("hidden_dim", b.model->hidden_dim(), "the model's feature width");

  probe(*b.model, *b.tokenizer, weights);
  b.weights_sha256 = sha256_file(weights);
  return b;
}

namespace {

// Writes via a temporary sibling and renames, for writers that take a path.
template <class Write>
void write_via_temporary(const std::string& path, Write&& write) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  try {
    write(tmp);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error("cannot rename '" + tmp + "' to '" + path + "'");
  }
}

}  // namespace

void save_bundle(const std::string& dir, Model& model, const data::Tokenizer& tokenizer, const BundleInfo& info) {
  if (static_cast<std::int64_t>(info.labels.size()) != model.num_labels())
    throw UsageError("save_bundle: " + std::to_string(info.labels.size()) + " labels for a model with " +
                     std::to_string(model.num_labels()) + " outputs");
  if (tokenizer.vocab_size() != model.vocab_size())
    throw UsageError("save_bundle: the tokenizer has " + std::to_string(tokenizer.vocab_size()) +
                     " tokens but the model's embedding matrix " + std::to_string(model.vocab_size()) + " rows");
  for (const auto& label : info.labels)
    if (label.empty() || label.find_first_of("\r\n") != std::string::npos)
      throw UsageError("save_bundle: label '" + label + "' cannot be stored one per line");

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error("cannot create bundle directory '" + dir + "': " + ec.message());
  // An existing fathom.json goes first: until the new one is written last,
  // the directory is visibly incomplete rather than a mix of old and new.
  fs::remove(in_dir(dir, kManifest), ec);

  const std::string weights_file =
      !info.weights_file.empty() ? info.weights_file : (model.kind() == "builtin" ? "weights.pt" : "model.pt");
  model.save_weights(in_dir(dir, weights_file));
  write_via_temporary(in_dir(dir, kVocab), [&](const std::string& tmp) { tokenizer.save_vocab(tmp); });
  std::string labels_text;
  for (const auto& label : info.labels) labels_text += label + "\n";
  write_file_atomic(in_dir(dir, kLabels), labels_text);

  nlohmann::ordered_json j;
  j["format"] = kFormat;
  j["format_version"] = kBundleFormatVersion;
  j["kind"] = model.kind();
  j["architecture"] = model.architecture();
  json tokenizer_options = json::parse(tokenizer.options_json());
  tokenizer_options["kind"] = tokenizer.kind();
  j["tokenizer"] = tokenizer_options;
  j["max_length"] = info.max_length;
  nlohmann::ordered_json specials;
  for (const char* token : {data::kPad, data::kUnk, data::kCls, data::kSep, data::kMask})
    specials[token] = tokenizer.token_to_id(token);
  j["special_tokens"] = specials;
  j["labels"] = info.labels;
  j["vocab_size"] = model.vocab_size();
  j["embedding_dim"] = model.embedding_dim();
  j["hidden_dim"] = model.hidden_dim();
  j["num_labels"] = model.num_labels();
  j["parameter_groups"] = model.parameter_groups();
  j["weights"] = weights_file;
  if (const BuiltinConfig* config = builtin_config(model))
    j["config"] = json::parse(config->to_json());
  else if (!info.config_json.empty() && info.config_json != "{}")
    j["config"] = json::parse(info.config_json);
  write_file_atomic(in_dir(dir, kManifest), j.dump(2) + "\n");
}

}  // namespace fathom::model
