#pragma once
// Private: layer taps inside a TorchScript module (model/taps.h contract),
// so per-example gradients and the (a, δ) layer stream work for bundles the
// way they do for built-in models, without the user changing the wrapper.
//
// How: the graphs of `embed` and `forward_from_embeddings` are copied and
// inlined; every aten::linear, aten::matmul(x, W), aten::embedding and
// aten::layer_norm whose weight (or bias) is a parameter of the module (a
// chain of prim::GetAttr from self) is a "site". A rewritten clone of each
// graph takes two more inputs (the batch size B and one on/off flag per
// site) and, at every site that is on,
//   linear / matmul / embedding:  y' = y + tap
//   layer_norm:                   x̂ = layer_norm(x) without affine; y' = x̂ ⊙ w + b + tap
// where tap is a zero tensor created in the graph with requires_grad (dim 0
// widened to B when y has 1 there, e.g. position embeddings of arange(T), so
// δ = ∂L/∂tap is per example). Embedding taps are masked at padding_idx
// (autograd gives that row no gradient). The clone returns, besides the
// method's output, the taps and each site's input activation (x, ids or x̂).
// One TapCall per site that is on is recorded: {kind, weight, bias,
// input = activation (detached, dim 0 widened to B), output = tap}.
//
// A parameter any other use of which the rewriter does not know (an
// aten::lstm weight list, x * w, W.t(), a use inside a loop or a branch, an
// embedding with scale_grad_by_freq) is "untappable": none of its uses are
// recorded, so a caller falls back to another path for exactly that
// parameter; the first tapped forward that watches it logs its name and the
// op. Shape-only uses (size, dim, dtype, device) are harmless. A site whose
// output has a dim 0 that is neither B nor 1 at run time (a layer applied to
// a [B*T, ...] or time-major view) cannot be split per example: its
// parameters become untappable from then on (logged).
//
// A module object used other than through prim::GetAttr (a call Inline
// could not inline) makes all the parameters it holds untappable.
//
// A graph the analysis or the rewrite cannot handle leaves usable() false
// with reason(): the module then runs as before (no calls recorded). So does
// the environment variable FATHOM_TORCHSCRIPT_TAPS=0 (an escape hatch: every
// parameter but the classifier then takes the per-example loop).
// Thread-safety: one thread drives a model (model.h).
#include <torch/script.h>
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fathom/model/taps.h"

namespace torch::jit {
struct Graph;
struct GraphFunction;
}  // namespace torch::jit

namespace fathom::model::detail {

class ScriptTaps {
 public:
  // Analyses and rewrites `methods` of `module` (never throws). The module
  // object must stay alive and keep its parameters (identity) while used.
  ScriptTaps(const torch::jit::Module& module, const std::vector<std::string>& methods);
  ~ScriptTaps();
  ScriptTaps(const ScriptTaps&) = delete;
  ScriptTaps& operator=(const ScriptTaps&) = delete;

  bool usable() const { return usable_; }
  const std::string& reason() const { return reason_; }
  // Parameter name -> the op that made it untappable.
  const std::map<std::string, std::string>& untappable() const { return untappable_; }
  // "kind weight-name" per site of `method`, in graph order (tests, logs).
  std::vector<std::string> describe(const std::string& method) const;

  // Runs `method` with `inputs` (self excluded), tapping the sites whose
  // weight or bias `recorder` watches, and records their calls. `batch` is
  // B. Returns the method's own output. Precondition: usable().
  c10::IValue run(const std::string& method, std::vector<c10::IValue> inputs, std::int64_t batch,
                  TapRecorder& recorder);

 private:
  struct Site;
  struct Method;

  void analyse(const std::vector<std::string>& methods);
  void rewrite(Method& m);
  void mark_untappable(const void* param, const std::string& op);
  torch::Tensor tappable(const void* param) const;  // the parameter, or undefined if untappable/none

  torch::jit::Module module_;
  bool usable_ = false;
  std::string reason_;
  std::map<const void*, torch::Tensor> params_;       // TensorImpl* -> parameter
  std::map<const void*, std::string> names_;          // TensorImpl* -> first name
  std::set<const void*> untappable_ids_;
  std::map<std::string, std::string> untappable_;
  std::set<std::string> logged_;
  std::map<std::string, std::unique_ptr<Method>> methods_;
};

}  // namespace fathom::model::detail
