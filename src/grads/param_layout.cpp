// Selected parameters and their place in a gradient row (param_layout.h).
#include "fathom/grads/param_layout.h"

#include <sstream>

namespace fathom::grads {

ParamLayout ParamLayout::select(model::Model& model, const std::string& filter) {
  ParamLayout layout;
  for (auto& [name, tensor] : model::select_parameters(model, filter)) {
    ParamSlice s;
    s.name = name;
    s.shape = tensor.sizes().vec();
    s.numel = tensor.numel();
    s.offset = layout.dim_;
    s.tensor = tensor;
    layout.dim_ += s.numel;
    layout.params_.push_back(std::move(s));
  }
  return layout;
}

int ParamLayout::index_of(const torch::Tensor& t) const {
  if (!t.defined()) return -1;
  for (std::size_t i = 0; i < params_.size(); ++i)
    if (params_[i].tensor.unsafeGetTensorImpl() == t.unsafeGetTensorImpl()) return int(i);
  return -1;
}

std::vector<std::string> ParamLayout::names() const {
  std::vector<std::string> out;
  for (const auto& p : params_) out.push_back(p.name);
  return out;
}

std::vector<std::string> ParamLayout::shape_texts() const {
  std::vector<std::string> out;
  for (const auto& p : params_) {
    std::string s;
    for (std::size_t i = 0; i < p.shape.size(); ++i) s += (i ? "x" : "") + std::to_string(p.shape[i]);
    out.push_back(s.empty() ? "1" : s);
  }
  return out;
}

std::vector<std::int64_t> ParamLayout::counts() const {
  std::vector<std::int64_t> out;
  for (const auto& p : params_) out.push_back(p.numel);
  return out;
}

std::string ParamLayout::describe() const {
  std::ostringstream os;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const auto& p = params_[i];
    os << (i ? ", " : "") << p.name << " [";
    for (std::size_t d = 0; d < p.shape.size(); ++d) os << (d ? "," : "") << p.shape[d];
    os << "] (" << p.numel << ")";
  }
  os << "; D = " << dim_;
  return os.str();
}

}  // namespace fathom::grads
