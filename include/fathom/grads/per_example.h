#pragma once
// Per-example gradients of the loss w.r.t. the selected parameters, for a
// whole batch at once.
//
// For example b with target label y_b (gold or predicted), the loss is
// L_b = cross_entropy(logits_b, y_b) and its gradient row is ∇_θ L_b [D]
// (layout: param_layout.h), or P ∇_θ L_b [k] with a projector. Examples in a
// batch do not interact (the model runs in eval mode: no dropout, and no
// layer mixes examples), so the rows equal a separate backward per example.
//
// Method "vectorised" (the default): ONE forward with layer taps
// (model/taps.h) and ONE autograd::grad of Σ_b L_b w.r.t. the recorded layer
// outputs; linear, embedding and LayerNorm gradients are then assembled per
// example from inputs and output gradients (Σ_t δ_t a_tᵀ, one bmm).
// TorchScript bundles record the same calls from a rewritten clone of their
// graphs (model/torchscript_model.h): every linear, matmul(x, W), embedding
// and layer_norm whose weight is a parameter. The classifier layer is
// vectorised for every model in any case, because the contract fixes
// logits = features Wᵀ + b. Parameters no tap recorded (an aten::lstm's
// weights, a parameter used by an op the rewriter does not know) fall back
// to one backward per example. Which parameters take which path depends on
// the model, not the batch: it is worked out on the first batch, logged, and
// reported by loop_parameters() (rechecked on every batch; a change is
// logged again). With a FactorisedProjector (logra) the factorised path
// projects δ and a first, so the [r,c] gradient is never formed.
// Method "loop": the naive baseline, one forward and backward per example,
// each example alone and unpadded (benchmarks, tests).
// Padding: padded positions contribute nothing (their output gradients are
// zero by the model contract), so results do not depend on batch padding.
#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fathom/grads/param_layout.h"
#include "fathom/grads/projection.h"
#include "fathom/model/model.h"
#include "fathom/model/taps.h"

namespace fathom::grads {

enum class LossTarget { gold, predicted };
LossTarget parse_loss_target(const std::string& text);  // "gold" | "predicted"; UsageError otherwise
const char* loss_target_name(LossTarget t);

enum class GradientMethod { vectorised, loop };
GradientMethod parse_gradient_method(const std::string& text);  // "vectorised" | "loop"

struct ExampleGradients {
  torch::Tensor logits;       // [B,C] model dtype, detached
  torch::Tensor features;     // [B,H]
  torch::Tensor losses;       // [B]   loss at the target label
  torch::Tensor targets;      // [B]   int64, the label the loss used
  torch::Tensor predictions;  // [B]   int64, argmax of logits
  torch::Tensor gradients;    // [B,D] or [B,k] with a projector; model dtype and device
};

namespace detail {
// Which parameters of a layout the layer taps cover. It depends on the
// model, not on the batch, so it is worked out on the first vectorised batch
// and kept.
struct TapCoverage {
  std::vector<int> loop;                  // layout indices no tap covers: one backward per example
  bool classifier_from_contract = false;  // classifier untapped: logits = features Wᵀ + b gives it
  int classifier_weight = -1, classifier_bias = -1;  // layout indices, -1 if not selected
};
}  // namespace detail

class PerExampleGradients {
 public:
  // `model` and `projector` (may be null) must outlive this object. The
  // model is put in eval mode. Its parameters keep requires_grad.
  PerExampleGradients(model::Model& model, ParamLayout layout, const Projector* projector = nullptr,
                      GradientMethod method = GradientMethod::vectorised);

  // batch on the model's device. LossTarget::gold needs batch.labels for
  // every row: a row without one is an InputError naming its corpus row.
  ExampleGradients compute(const model::Batch& batch, LossTarget target);

  const ParamLayout& layout() const { return layout_; }
  std::int64_t output_dim() const;  // D, or k with a projector
  // Parameters computed by the per-example loop (known after the first
  // compute(); all of them for GradientMethod::loop).
  const std::vector<std::string>& loop_parameters() const { return loop_names_; }

 private:
  ExampleGradients compute_vectorised(const model::Batch& batch, LossTarget target);
  ExampleGradients compute_loop(const model::Batch& batch, LossTarget target);
  // The coverage of this batch's tap calls (logged when it changes).
  const detail::TapCoverage& coverage(const std::vector<model::TapCall>& calls);
  // [B, D] rows holding the gradients of the `loop` parameters (layout
  // indices), one forward and backward per example; zeros elsewhere.
  torch::Tensor per_example_loop(const model::Batch& batch, const torch::Tensor& targets, const std::vector<int>& loop,
                                 const torch::TensorOptions& opts);

  model::Model* model_;
  ParamLayout layout_;
  const Projector* projector_;
  GradientMethod method_;
  std::vector<std::string> loop_names_;
  std::optional<detail::TapCoverage> coverage_;  // vectorised: the last batch's
};

// Target labels for a batch: gold labels (checked) or argmax of `logits`.
torch::Tensor loss_targets(const model::Batch& batch, const torch::Tensor& logits, LossTarget target);

}  // namespace fathom::grads
