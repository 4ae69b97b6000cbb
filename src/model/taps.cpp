// Layer taps (contract in taps.h).
#include "fathom/model/taps.h"

namespace fathom::model {
namespace {

thread_local TapRecorder* active_recorder_ = nullptr;

const void* key(const torch::Tensor& t) { return t.defined() ? t.unsafeGetTensorImpl() : nullptr; }

// The active recorder if it watches the weight or the bias, else nullptr.
TapRecorder* recorder_for(const torch::Tensor& weight, const torch::Tensor& bias) {
  TapRecorder* r = active_recorder_;
  if (r == nullptr) return nullptr;
  return r->watches(weight) || (bias.defined() && r->watches(bias)) ? r : nullptr;
}

}  // namespace

void TapRecorder::watch(const torch::Tensor& parameter) { watched_[key(parameter)] = 1; }
bool TapRecorder::watches(const torch::Tensor& parameter) const {
  return parameter.defined() && watched_.count(key(parameter)) != 0;
}

TapRecorder* active_recorder() { return active_recorder_; }

TapScope::TapScope(TapRecorder& recorder) : previous_(active_recorder_) { active_recorder_ = &recorder; }
TapScope::~TapScope() { active_recorder_ = previous_; }

torch::Tensor tapped_linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  torch::Tensor y = torch::nn::functional::linear(x, weight, bias);
  if (TapRecorder* r = recorder_for(weight, bias)) r->record({TapKind::linear, weight, bias, x.detach(), y});
  return y;
}

torch::Tensor tapped_embedding(const torch::Tensor& ids, const torch::Tensor& weight) {
  torch::Tensor y = torch::embedding(weight, ids);
  if (TapRecorder* r = recorder_for(weight, {})) r->record({TapKind::embedding, weight, {}, ids, y});
  return y;
}

torch::Tensor tapped_layer_norm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                double eps) {
  const std::int64_t dim = x.size(-1);
  torch::Tensor normalised = torch::layer_norm(x, {dim}, {}, {}, eps);
  torch::Tensor y = torch::addcmul(bias, normalised, weight);
  if (TapRecorder* r = recorder_for(weight, bias))
    r->record({TapKind::scale_shift, weight, bias, normalised.detach(), y});
  return y;
}

}  // namespace fathom::model
