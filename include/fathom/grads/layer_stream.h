#pragma once
// The per-layer (a, δ) stream of one batch: for every tapped layer call
// whose weight or bias is in a ParamLayout, the layer's input and the
// gradient of the summed loss w.r.t. its output. K-FAC/EK-FAC factors
// (attrib/ekfac.h) are built from it:
//   linear   y = a Wᵀ + b:   ∇_W L_b = Σ_t δ_bt a_btᵀ,  ∇_b L_b = Σ_t δ_bt
//
// Cost: ONE forward with model taps (model/taps.h) and ONE autograd::grad of
// Σ_b L_b w.r.t. the recorded layer outputs, L_b = cross_entropy(logits_b,
// y_b). Since examples do not interact (eval mode, no layer mixes rows), δ_b
// of the summed loss is example b's own δ.
//
// Records (one per tapped call, in call order; a parameter used several times
// in a forward — an LSTM's weight_hh at every step — gives several records):
//   kind    linear | embedding | scale_shift (TapKind)
//   weight, bias   layout indices of the call's weight / bias, -1 when the
//                  call has none or the layout does not select it (at least
//                  one of them is >= 0)
//   a       linear: the input [B,T,in]; embedding: ids [B,T] int64;
//           scale_shift: the normalised input x̂ [B,T,E]
//   delta   ∂(Σ_b L_b)/∂output [B,T,out] (zeros where the output does not
//           reach the loss)
//   valid   [B,T] bool, false on padding rows
// T is the call's positions (1 for a call on [B,in], e.g. the classifier or
// one LSTM step; the product of the middle dims otherwise). All tensors are
// detached, in the model's dtype and device.
//
// Padding rows: a row is padding when the batch mask says so (calls whose
// positions match the mask's length T), or, for a call without positions
// ([B,in] inputs: one step of a recurrence), when its δ row is exactly zero
// (a padded LSTM step keeps the previous state, so its output never reaches
// the loss). On padding rows a (float kinds) and δ are set to zero, so sums
// like Σ_t a aᵀ over a batch do not depend on how much padding it has.
//
// The classifier: when the layout selects classifier.weight/bias and no tap
// recorded them (TorchScript bundles without encoder taps), the record is
// built from the model contract (logits = features Wᵀ + b, a = features).
// Layout parameters that no record covers are listed in `untapped` (layout
// indices): callers need another path for them (grads/per_example.h).
//
// Thread-safety: one thread; the model is put in eval mode.
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "fathom/grads/param_layout.h"
#include "fathom/model/model.h"
#include "fathom/model/taps.h"

namespace fathom::grads {

struct LayerRecord {
  model::TapKind kind = model::TapKind::linear;
  int weight = -1;
  int bias = -1;
  // matmul(x, W) with W [in,out] in a TorchScript bundle (model/taps.h):
  // the weight's gradient is Σ_t a_t δ_tᵀ, the transpose of the usual layout.
  bool weight_transposed = false;
  torch::Tensor a;
  torch::Tensor delta;
  torch::Tensor valid;
};

struct LayerStream {
  torch::Tensor logits;   // [B,C] detached
  torch::Tensor targets;  // [B] int64, the labels the loss used
  torch::Tensor losses;   // [B]
  std::vector<LayerRecord> records;
  std::vector<int> untapped;  // layout indices without a record
};

// Labels from the batch's logits ([B,C], detached) -> [B] int64 in [0, C).
// Lets a caller sample labels from the model's own prediction (true Fisher)
// without a second forward.
using TargetFn = std::function<torch::Tensor(const torch::Tensor& logits)>;

// `batch` on the model's device. Targets outside [0, C) are a UsageError.
LayerStream layer_stream(model::Model& model, const ParamLayout& layout, const model::Batch& batch,
                         const TargetFn& targets);
// Fixed targets [B] int64.
LayerStream layer_stream(model::Model& model, const ParamLayout& layout, const model::Batch& batch,
                         const torch::Tensor& targets);

}  // namespace fathom::grads
