// Model adapter over a scripted module: method calls, parameter groups and
// load-time validation of what the module promises.
#include "torchscript_model.h"

#include <cstdio>
#include <sstream>
#include <unistd.h>

#include "fathom/core/error.h"
#include "fathom/core/log.h"

namespace fathom::model::detail {

namespace {

std::string shape_text(const torch::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

const std::vector<std::string>& required_torchscript_methods() {
  static const std::vector<std::string> methods = {"embed", "forward_from_embeddings", "forward", "embedding_matrix"};
  return methods;
}

torch::jit::Module load_torchscript_module(const std::string& path, const torch::Device& device) {
  try {
    return torch::jit::load(path, device);
  } catch (const c10::Error& e) {
    throw InputError(path, std::string("not a TorchScript module (expected torch.jit.save output): ") +
                               e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw InputError(path, std::string("not a TorchScript module (expected torch.jit.save output): ") + e.what());
  }
}

TorchScriptModel::TorchScriptModel(torch::jit::Module module, std::string architecture, std::string source,
                                   ParameterGroups groups)
    : module_(std::move(module)), architecture_(std::move(architecture)), source_(std::move(source)) {
  for (const auto& method : required_torchscript_methods()) {
    if (!module_.find_method(method))
      throw InputError(source_, 0, method,
                       "the TorchScript module has no method '" + method +
                           "' (a fathom model must define: " + joined(required_torchscript_methods()) + ")");
  }

  std::map<std::string, torch::Tensor> params;
  for (const auto& p : module_.named_parameters(/*recurse=*/true)) {
    // fathom chooses what to differentiate through parameter filters, so a
    // parameter frozen at export time must still be differentiable here.
    p.value.requires_grad_(true);
    params[p.name] = p.value;
  }
  auto weight = params.find("classifier.weight");
  auto bias = params.find("classifier.bias");
  if (weight == params.end() || bias == params.end()) {
    throw InputError(source_, 0, weight == params.end() ? "classifier.weight" : "classifier.bias",
                     "missing parameter: the last layer must be a linear 'classifier' (logits = "
                     "features @ classifier.weight^T + classifier.bias)");
  }
  if (weight->second.dim() != 2 || bias->second.dim() != 1 || bias->second.size(0) != weight->second.size(0))
    throw InputError(source_, 0, "classifier.weight",
                     "expected weight [C,H] and bias [C], got " + shape_text(weight->second) + " and " +
                         shape_text(bias->second));
  num_labels_ = weight->second.size(0);
  hidden_dim_ = weight->second.size(1);
  device_ = weight->second.device();

  torch::Tensor matrix;
  {
    torch::NoGradGuard no_grad;
    try {
      matrix = embedding_matrix();
    } catch (const std::exception& e) {
      throw InputError(source_, 0, "embedding_matrix", std::string("failed: ") + e.what());
    }
  }
  if (matrix.dim() != 2)
    throw InputError(source_, 0, "embedding_matrix", "expected a [V,E] tensor, got " + shape_text(matrix));
  vocab_size_ = matrix.size(0);
  embedding_dim_ = matrix.size(1);

  groups_ = std::move(groups);
  groups_["classifier"] = {"classifier.weight", "classifier.bias"};
  if (groups_.find("embeddings") == groups_.end()) {
    // The embedding parameter is the one embedding_matrix() returns (same storage).
    for (const auto& [name, tensor] : params) {
      if (tensor.data_ptr() == matrix.data_ptr() && tensor.sizes() == matrix.sizes()) groups_["embeddings"] = {name};
    }
    if (groups_.find("embeddings") == groups_.end())
      throw InputError(source_, 0, "parameter_groups.embeddings",
                       "embedding_matrix() returns no parameter of the module as is; name the embedding "
                       "parameter in fathom.json parameter_groups.embeddings");
  }
  for (const auto& [group, members] : groups_) {
    for (const auto& name : members)
      if (!params.count(name))
        throw InputError(source_, 0, "parameter_groups." + group, "names '" + name + "', not a parameter of the module");
  }
}

torch::Tensor TorchScriptModel::type_ids_or_zeros(const torch::Tensor& type_ids, const torch::Tensor& mask) const {
  // Scripted signatures take a Tensor, not Optional[Tensor]: single-segment
  // callers pass an undefined tensor, which means all-zero segments.
  return type_ids.defined() ? type_ids : torch::zeros_like(mask);
}

ScriptTaps& TorchScriptModel::taps() {
  if (!taps_) {
    taps_ = std::make_unique<ScriptTaps>(module_, std::vector<std::string>{"embed", "forward_from_embeddings"});
    if (!taps_->usable())
      spdlog::warn("{}: the TorchScript graphs cannot be rewritten for layer taps ({}); per-example gradients "
                   "beyond the classifier take one backward per example",
                   source_, taps_->reason());
  }
  return *taps_;
}

torch::Tensor TorchScriptModel::embed(const torch::Tensor& ids) {
  if (TapRecorder* recorder = active_recorder(); recorder && taps().usable())
    return taps_->run("embed", {ids}, ids.size(0), *recorder).toTensor();
  return module_.get_method("embed")({ids}).toTensor();
}

torch::Tensor TorchScriptModel::embedding_matrix() { return module_.get_method("embedding_matrix")({}).toTensor(); }

ModelOutput TorchScriptModel::forward_from_embeddings(const torch::Tensor& emb, const torch::Tensor& mask,
                                                      const torch::Tensor& type_ids) {
  std::vector<c10::IValue> inputs{emb, mask, type_ids_or_zeros(type_ids, mask)};
  TapRecorder* recorder = active_recorder();
  auto out = recorder && taps().usable() ? taps_->run("forward_from_embeddings", std::move(inputs), emb.size(0), *recorder)
                                         : module_.get_method("forward_from_embeddings")(std::move(inputs));
  if (!out.isTuple() || out.toTupleRef().elements().size() != 2 || !out.toTupleRef().elements()[0].isTensor() ||
      !out.toTupleRef().elements()[1].isTensor())
    throw InputError(source_, 0, "forward_from_embeddings",
                     "must return a tuple (logits, features), got " + out.type()->str());
  const auto& items = out.toTupleRef().elements();
  return {items[0].toTensor(), items[1].toTensor()};
}

torch::Tensor TorchScriptModel::scripted_forward(const torch::Tensor& ids, const torch::Tensor& mask,
                                                 const torch::Tensor& type_ids) {
  auto out = module_.get_method("forward")({ids, mask, type_ids_or_zeros(type_ids, mask)});
  if (!out.isTensor())
    throw InputError(source_, 0, "forward", "must return the logits tensor, got " + out.type()->str());
  return out.toTensor();
}

std::vector<NamedParameter> TorchScriptModel::named_parameters() {
  std::vector<NamedParameter> out;
  for (const auto& p : module_.named_parameters(/*recurse=*/true)) out.emplace_back(p.name, p.value);
  return out;
}

void TorchScriptModel::to(const torch::Device& device, torch::ScalarType dtype) {
  module_.to(device, dtype);
  device_ = device;
  taps_.reset();  // rebuilt on the next tapped forward, over the converted parameters
}

void TorchScriptModel::save_weights(const std::string& path) {
  // Same write-then-rename rule as every other output.
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  module_.save(tmp);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error("cannot rename '" + tmp + "' to '" + path + "'");
  }
}

void TorchScriptModel::load_weights(const std::string& path) {
  auto other = load_torchscript_module(path, device_);
  std::map<std::string, torch::Tensor> stored;
  for (const auto& p : other.named_parameters(true)) stored[p.name] = p.value;
  auto mine = named_parameters();
  for (const auto& [name, tensor] : mine) {
    auto it = stored.find(name);
    if (it == stored.end()) throw InputError(path, 0, name, "missing from the saved module");
    if (it->second.sizes() != tensor.sizes())
      throw InputError(path, 0, name, "shape " + shape_text(it->second) + " but the model expects " + shape_text(tensor));
  }
  if (stored.size() != mine.size())
    throw InputError(path, "the saved module has " + std::to_string(stored.size()) + " parameters, this model " +
                               std::to_string(mine.size()));
  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : mine) tensor.copy_(stored.at(name));
}

}  // namespace fathom::model::detail
