#pragma once
// The model contract: every method in fathom (influence, representer points,
// kNN, triggers, HotFlip, saliency) talks to a classifier through this class.
//
// Shapes and dtypes (B = batch, T = tokens, E = embedding dim, H = feature
// dim, C = number of labels, V = vocabulary size):
//   ids       [B,T] int64   token ids; padding positions hold pad_id
//   mask      [B,T] int64   1 = real token, 0 = padding
//   type_ids  [B,T] int64   segment ids (0 for text_a, 1 for text_b); may be
//                           an undefined tensor for models that ignore them
//   embed(ids)                 -> [B,T,E] float, context-independent token
//                                 embeddings (the embedding-layer output that
//                                 saliency differentiates w.r.t.)
//   embedding_matrix()         -> [V,E] float, the embedding weight itself
//                                 (HotFlip/triggers score the whole vocabulary)
//   forward_from_embeddings(emb, mask, type_ids) -> {logits [B,C], features [B,H]}
//     features: the penultimate representation (kNN, representer points, FastIF);
//     logits == features @ W^T + b exactly, where W [C,H] = "classifier.weight"
//     and b [C] = "classifier.bias" (the parameter group "classifier").
//   forward(batch) == forward_from_embeddings(embed(ids), mask, type_ids).
// dtype: float32 by default; to(kDouble) is allowed for gradient checks.
// Thread-safety: one thread drives a model at a time.
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace fathom::model {

struct ModelOutput {
  torch::Tensor logits;    // [B,C]
  torch::Tensor features;  // [B,H]
};

struct Batch {
  torch::Tensor ids;       // [B,T] int64
  torch::Tensor mask;      // [B,T] int64
  torch::Tensor type_ids;  // [B,T] int64
  torch::Tensor labels;    // [B] int64; undefined when the corpus has no labels
  std::vector<std::int64_t> rows;  // corpus record index of each row
  Batch to(const torch::Device& d) const;
  std::int64_t size() const { return ids.defined() ? ids.size(0) : 0; }
};

using NamedParameter = std::pair<std::string, torch::Tensor>;

class Model {
 public:
  virtual ~Model() = default;
  virtual std::string kind() const = 0;          // "builtin" | "torchscript"
  virtual std::string architecture() const = 0;  // "boe" | "bilstm" | "transformer" | user text

  virtual torch::Tensor embed(const torch::Tensor& ids) = 0;
  virtual torch::Tensor embedding_matrix() = 0;
  virtual ModelOutput forward_from_embeddings(const torch::Tensor& emb, const torch::Tensor& mask,
                                              const torch::Tensor& type_ids) = 0;
  ModelOutput forward(const Batch& b) { return forward_from_embeddings(embed(b.ids), b.mask, b.type_ids); }

  // All trainable parameters, in a stable order, with dotted names
  // ("encoder.layers.1.linear1.weight", "classifier.weight", ...).
  virtual std::vector<NamedParameter> named_parameters() = 0;
  // Named groups; always has "classifier" = {"classifier.weight","classifier.bias"}
  // and "embeddings" = {the embedding weight}.
  virtual std::map<std::string, std::vector<std::string>> parameter_groups() = 0;

  virtual void train(bool on) = 0;
  virtual bool is_training() const = 0;
  virtual void to(const torch::Device& device, torch::ScalarType dtype = torch::kFloat) = 0;
  virtual torch::Device device() const = 0;

  virtual std::int64_t vocab_size() const = 0;
  virtual std::int64_t embedding_dim() const = 0;
  virtual std::int64_t hidden_dim() const = 0;  // H, width of features
  virtual std::int64_t num_labels() const = 0;  // C

  // Saves the weights to `path` (builtin: torch::save of the parameters and
  // buffers by name; torchscript: the scripted module).
  virtual void save_weights(const std::string& path) = 0;
  virtual void load_weights(const std::string& path) = 0;
};

// Parameter filter: comma-separated globs over parameter names ('*' any run
// of characters, '?' one), group names ("classifier", "embeddings"), or
// "all". Default "classifier". Returns the matching parameters in the model's
// order. Throws UsageError naming the pattern that matched nothing and
// listing the available names.
std::vector<NamedParameter> select_parameters(Model& model, const std::string& filter = "classifier");
bool glob_match(const std::string& pattern, const std::string& name);

// Threads for one rank: cores on this node / ranks on this node (from
// OMPI_COMM_WORLD_LOCAL_SIZE, MPI_LOCALNRANKS or SLURM_NTASKS_PER_NODE), at
// least 1; `requested` > 0 overrides. Applies torch::set_num_threads and
// returns the value.
int configure_threads(int requested = 0);

}  // namespace fathom::model
