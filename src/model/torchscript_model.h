#pragma once
// Private: the Model adapter over a TorchScript module (torch.jit.save from
// Python, or any tool). The scripted module must define
//   embed(ids) -> Tensor [B,T,E]
//   forward_from_embeddings(emb, mask, type_ids) -> Tuple[Tensor logits [B,C], Tensor features [B,H]]
//   forward(ids, mask, type_ids) -> Tensor logits [B,C]
//   embedding_matrix() -> Tensor [V,E]
// and parameters "classifier.weight" [C,H] and "classifier.bias" [C].
//
// Layer taps (model/taps.h): while a TapScope is active on the calling
// thread, embed and forward_from_embeddings run rewritten clones of their
// graphs that record the linear / matmul / embedding / layer_norm calls of
// the watched parameters, as built-in models do (script_taps.h). Without a
// scope, or for a module whose graphs cannot be rewritten, the module's own
// methods run.
#include <torch/script.h>
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fathom/model/model.h"
#include "script_taps.h"

namespace fathom::model::detail {

using ParameterGroups = std::map<std::string, std::vector<std::string>>;

// The methods checked at load time, in the order they are reported.
const std::vector<std::string>& required_torchscript_methods();

class TorchScriptModel final : public Model {
 public:
  // Validates methods and the classifier parameters; `source` (the module's
  // file) is named in every error. `groups` come from fathom.json and may be
  // empty: "classifier" is fixed, "embeddings" is found by matching
  // embedding_matrix() with a parameter if the bundle does not name it.
  // Every parameter is made to require grad (filters decide what is used).
  TorchScriptModel(torch::jit::Module module, std::string architecture, std::string source,
                   ParameterGroups groups = {});

  std::string kind() const override { return "torchscript"; }
  std::string architecture() const override { return architecture_; }

  torch::Tensor embed(const torch::Tensor& ids) override;
  torch::Tensor embedding_matrix() override;
  ModelOutput forward_from_embeddings(const torch::Tensor& emb, const torch::Tensor& mask,
                                      const torch::Tensor& type_ids) override;
  // The module's own forward(ids, mask, type_ids); bundles check it agrees
  // with forward_from_embeddings(embed(ids)).
  torch::Tensor scripted_forward(const torch::Tensor& ids, const torch::Tensor& mask, const torch::Tensor& type_ids);

  std::vector<NamedParameter> named_parameters() override;
  ParameterGroups parameter_groups() override { return groups_; }

  void train(bool on) override { module_.train(on); }
  bool is_training() const override { return module_.is_training(); }
  void to(const torch::Device& device, torch::ScalarType dtype) override;
  torch::Device device() const override { return device_; }

  std::int64_t vocab_size() const override { return vocab_size_; }
  std::int64_t embedding_dim() const override { return embedding_dim_; }
  std::int64_t hidden_dim() const override { return hidden_dim_; }
  std::int64_t num_labels() const override { return num_labels_; }

  // The whole scripted module (torch.jit.load-able).
  void save_weights(const std::string& path) override;
  // Copies the parameters of the module in `path` into this one (names and
  // shapes must match), so tensors held by optimizers stay valid.
  void load_weights(const std::string& path) override;

  // The tap rewriter of this module (built on first use): sites, untappable
  // parameters and why, or why the graphs could not be rewritten.
  ScriptTaps& taps();

 private:
  torch::Tensor type_ids_or_zeros(const torch::Tensor& type_ids, const torch::Tensor& mask) const;

  torch::jit::Module module_;
  std::string architecture_;
  std::string source_;
  ParameterGroups groups_;
  std::unique_ptr<ScriptTaps> taps_;
  torch::Device device_{torch::kCPU};
  std::int64_t vocab_size_ = 0, embedding_dim_ = 0, hidden_dim_ = 0, num_labels_ = 0;
};

// torch::jit::load with errors as InputError(path, ...).
torch::jit::Module load_torchscript_module(const std::string& path, const torch::Device& device);

}  // namespace fathom::model::detail
