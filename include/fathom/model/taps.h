#pragma once
// Layer taps: what per-example gradients need from one batched forward.
//
// A model's layers call the tapped_* functions below instead of the plain
// torch ones. With no recorder installed on the calling thread they are the
// plain ops (one thread-local read extra). While a TapScope is alive, every
// call whose parameters the recorder watches (matched by tensor identity,
// not by name, so modules need not know their dotted names) is recorded:
// its input and its output, the output still in the autograd graph. After
// the forward, the gradient of a per-example-summed loss w.r.t. the recorded
// outputs (one autograd::grad call) gives each example's gradient of every
// watched parameter in closed form (grads/per_example.h):
//   linear      y = x W^T + b:   dW_b = Σ_t δ_bt x_btᵀ,  db_b = Σ_t δ_bt
//   embedding   y = W[ids]:      dW_b = Σ_t onehot(ids_bt) δ_btᵀ
//   scale-shift y = x̂ ⊙ w + b:   dw_b = Σ_t δ_bt ⊙ x̂_bt, db_b = Σ_t δ_bt  (LayerNorm)
// Shape rule: dim 0 of every recorded input/output is the example (batch)
// dimension, so a layer that broadcasts one tensor over the batch (e.g.
// position embeddings of arange(T)) must expand it to [B,...] first, or the
// per-example split would be wrong. A parameter used several times in one
// forward (an LSTM's weight_hh at every step) gets one call per use; the
// per-example gradient is the sum over its calls.
// A call's output need not be the layer's own output tensor: any tensor in
// the graph whose gradient equals ∂L/∂output works (TorchScript bundles
// record a zero "tap" added to the output, see torchscript_model.h).
// Thread-safety: a recorder is per thread (the scope installs it for the
// constructing thread only).
#include <torch/torch.h>

#include <cstdint>
#include <unordered_map>
#include <vector>

namespace fathom::model {

enum class TapKind { linear, embedding, scale_shift };

struct TapCall {
  TapKind kind;
  torch::Tensor weight;  // the parameter (W [out,in], embedding [V,E], scale [E])
  torch::Tensor bias;    // may be undefined
  torch::Tensor input;   // detached: x [B,...,in] | ids [B,...] int64 | x̂ [B,...,E]
  torch::Tensor output;  // in the graph: [B,...,out] | [B,...,E] | [B,...,E]
  // linear only: the parameter is used as y = x W (torch.matmul(x, W), W
  // [in,out]) rather than y = x Wᵀ, so dW_b = Σ_t x_bt δ_btᵀ ([in,out]).
  // a = input and δ = ∂L/∂output are the same either way (K-FAC factors do
  // not change); only the layout of the weight gradient is transposed.
  bool weight_transposed = false;
};

class TapRecorder {
 public:
  // Records calls that use `parameter` as weight or bias.
  void watch(const torch::Tensor& parameter);
  bool watches(const torch::Tensor& parameter) const;
  void clear() { calls_.clear(); }
  const std::vector<TapCall>& calls() const { return calls_; }
  // Called by the tapped_* functions.
  void record(TapCall call) { calls_.push_back(std::move(call)); }

 private:
  std::unordered_map<const void*, int> watched_;  // TensorImpl* of watched parameters
  std::vector<TapCall> calls_;
};

// Installs `recorder` for the current thread for the scope's lifetime
// (nesting restores the previous one).
class TapScope {
 public:
  explicit TapScope(TapRecorder& recorder);
  ~TapScope();
  TapScope(const TapScope&) = delete;
  TapScope& operator=(const TapScope&) = delete;

 private:
  TapRecorder* previous_;
};

// The recorder a TapScope installed on the calling thread, or nullptr. For
// models whose layers are not tapped_* calls (TorchScript bundles record
// their own calls, model/torchscript_model.h).
TapRecorder* active_recorder();

// The ops layers use. Same results as torch::nn::functional::linear /
// embedding / (x̂ * w + b). `bias` may be undefined.
torch::Tensor tapped_linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);
torch::Tensor tapped_embedding(const torch::Tensor& ids, const torch::Tensor& weight);
// LayerNorm over the last dim, written as normalise-then-scale-shift so the
// normalised input x̂ can be recorded.
torch::Tensor tapped_layer_norm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                double eps);

}  // namespace fathom::model
