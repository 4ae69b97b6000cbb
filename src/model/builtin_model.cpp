// The Model adapter over the builtin networks, make_builtin, and the weights
// file (a pickled {name: tensor} dict, readable by torch.load in Python).
#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>

#include "builtin_modules.h"
#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"

namespace fathom::model {

namespace {

std::string shape_text(const torch::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

class BuiltinModel final : public Model {
 public:
  BuiltinModel(BuiltinConfig config, std::shared_ptr<detail::ClassifierNetImpl> net)
      : config_(std::move(config)), net_(std::move(net)) {}

  std::string kind() const override { return "builtin"; }
  std::string architecture() const override { return config_.architecture; }

  torch::Tensor embed(const torch::Tensor& ids) override { return net_->embed(ids); }
  torch::Tensor embedding_matrix() override { return net_->embeddings->weight; }
  ModelOutput forward_from_embeddings(const torch::Tensor& emb, const torch::Tensor& mask,
                                      const torch::Tensor& type_ids) override {
    return net_->forward_from_embeddings(emb, mask, type_ids);
  }

  std::vector<NamedParameter> named_parameters() override {
    std::vector<NamedParameter> out;
    for (const auto& item : net_->named_parameters(/*recurse=*/true)) out.emplace_back(item.key(), item.value());
    return out;
  }

  std::map<std::string, std::vector<std::string>> parameter_groups() override {
    std::map<std::string, std::vector<std::string>> groups;
    groups["classifier"] = {"classifier.weight", "classifier.bias"};
    groups["embeddings"] = {"embeddings.weight"};
    // "head" (pooler + classifier) is the usual FastIF/Koh-Liang "top layers" choice.
    groups["head"] = {"pooler.weight", "pooler.bias", "classifier.weight", "classifier.bias"};
    for (const auto& [name, tensor] : named_parameters())
      if (name.rfind("encoder.", 0) == 0) groups["encoder"].push_back(name);
    return groups;
  }

  void train(bool on) override { net_->train(on); }
  bool is_training() const override { return net_->is_training(); }
  void to(const torch::Device& device, torch::ScalarType dtype) override { net_->to(device, dtype); }
  torch::Device device() const override { return net_->embeddings->weight.device(); }

  std::int64_t vocab_size() const override { return config_.vocab_size; }
  std::int64_t embedding_dim() const override { return config_.embedding_dim; }
  std::int64_t hidden_dim() const override { return config_.hidden_dim; }
  std::int64_t num_labels() const override { return config_.num_labels; }

  void save_weights(const std::string& path) override {
    c10::Dict<std::string, torch::Tensor> state;
    // CPU copies: the file must load on a machine without the training GPU.
    for (const auto& item : net_->named_parameters(true)) state.insert(item.key(), item.value().detach().cpu());
    for (const auto& item : net_->named_buffers(true)) state.insert(item.key(), item.value().detach().cpu());
    std::vector<char> bytes = torch::pickle_save(state);
    write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
  }

  void load_weights(const std::string& path) override {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw InputError(path, "cannot open the weights file");
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    c10::IValue loaded;
    try {
      loaded = torch::pickle_load(bytes);
    } catch (const c10::Error& e) {
      throw InputError(path, std::string("not a fathom weights file (pickled name->tensor dict): ") +
                                 e.what_without_backtrace());
    } catch (const std::exception& e) {
      throw InputError(path, std::string("not a fathom weights file (pickled name->tensor dict): ") + e.what());
    }
    if (!loaded.isGenericDict()) throw InputError(path, "not a fathom weights file: expected a name->tensor dict");
    std::map<std::string, torch::Tensor> stored;
    for (const auto& entry : loaded.toGenericDict()) {
      if (!entry.key().isString() || !entry.value().isTensor())
        throw InputError(path, "not a fathom weights file: expected a name->tensor dict");
      stored[entry.key().toStringRef()] = entry.value().toTensor();
    }

    std::vector<std::pair<std::string, torch::Tensor>> targets;
    for (const auto& item : net_->named_parameters(true)) targets.emplace_back(item.key(), item.value());
    for (const auto& item : net_->named_buffers(true)) targets.emplace_back(item.key(), item.value());
    // Check everything before copying anything: a bad file leaves the model untouched.
    for (const auto& [name, target] : targets) {
      auto it = stored.find(name);
      if (it == stored.end())
        throw InputError(path, 0, name, "missing from the weights file of this " + config_.architecture + " model");
      if (it->second.sizes() != target.sizes())
        throw InputError(path, 0, name,
                         "shape " + shape_text(it->second) + " but the model expects " + shape_text(target));
    }
    if (stored.size() != targets.size()) {
      for (const auto& [name, tensor] : stored) {
        bool known = std::any_of(targets.begin(), targets.end(), [&](const auto& t) { return t.first == name; });
        if (!known) throw InputError(path, 0, name, "not a parameter of this " + config_.architecture + " model");
      }
    }
    torch::NoGradGuard no_grad;
    for (auto& [name, target] : targets) target.copy_(stored.at(name));
  }

  const BuiltinConfig& config() const { return config_; }

 private:
  BuiltinConfig config_;
  std::shared_ptr<detail::ClassifierNetImpl> net_;
};

void check(bool ok, const std::string& what) {
  if (!ok) throw UsageError("builtin model config: " + what);
}

void validate(const BuiltinConfig& c) {
  check(c.architecture == "boe" || c.architecture == "bilstm" || c.architecture == "transformer",
        "unknown architecture '" + c.architecture + "' (expected boe, bilstm or transformer)");
  check(c.vocab_size > 0, "vocab_size must be > 0 (got " + std::to_string(c.vocab_size) + ")");
  check(c.num_labels > 0, "num_labels must be > 0 (got " + std::to_string(c.num_labels) + ")");
  check(c.embedding_dim > 0, "embedding_dim must be > 0");
  check(c.hidden_dim > 0, "hidden_dim must be > 0");
  check(c.dropout >= 0.0 && c.dropout < 1.0, "dropout must be in [0, 1)");
  check(c.pad_id >= 0 && c.pad_id < c.vocab_size, "pad_id must be a token id in [0, vocab_size)");
  if (c.architecture != "boe") check(c.layers > 0, "layers must be > 0");
  if (c.architecture == "transformer") {
    check(c.heads > 0 && c.embedding_dim % c.heads == 0,
          "heads (" + std::to_string(c.heads) + ") must divide embedding_dim (" + std::to_string(c.embedding_dim) + ")");
    check(c.ff_dim > 0, "ff_dim must be > 0");
    check(c.max_length > 0, "max_length must be > 0");
    check(c.type_vocab >= 0, "type_vocab must be >= 0");
  }
}

}  // namespace

std::shared_ptr<Model> make_builtin(const BuiltinConfig& config) {
  validate(config);
  std::shared_ptr<detail::ClassifierNetImpl> net;
  if (config.architecture == "boe")
    net = detail::BoeClassifier(config).ptr();
  else if (config.architecture == "bilstm")
    net = detail::BiLstmClassifier(config).ptr();
  else
    net = detail::TransformerClassifier(config).ptr();
  detail::initialise(*net, config.seed);
  return std::make_shared<BuiltinModel>(config, std::move(net));
}

const BuiltinConfig* builtin_config(const Model& model) {
  auto* builtin = dynamic_cast<const BuiltinModel*>(&model);
  return builtin ? &builtin->config() : nullptr;
}

}  // namespace fathom::model
