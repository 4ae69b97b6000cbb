#pragma once
// The θ of per-example gradients: the parameters a filter selects, in the
// model's order, and where each one lives in a flat gradient row.
//
// A gradient row [D] is the concatenation of every selected parameter's
// gradient flattened row-major (a weight [out,in] contributes out*in values,
// row by row), in named_parameters() order. D = Σ numel.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fathom/model/model.h"

namespace fathom::grads {

struct ParamSlice {
  std::string name;                 // "classifier.weight"
  std::vector<std::int64_t> shape;  // [2,64]
  std::int64_t numel = 0;
  std::int64_t offset = 0;          // first column in a gradient row
  torch::Tensor tensor;             // the model's parameter (shares storage)
};

class ParamLayout {
 public:
  ParamLayout() = default;
  // model::select_parameters(model, filter); UsageError (naming the pattern
  // and the names there are) when a pattern matches nothing.
  static ParamLayout select(model::Model& model, const std::string& filter);

  const std::vector<ParamSlice>& params() const { return params_; }
  std::int64_t dim() const { return dim_; }  // D
  std::size_t size() const { return params_.size(); }
  // Index of the slice whose tensor is `t` (identity), or -1.
  int index_of(const torch::Tensor& t) const;
  std::vector<std::string> names() const;
  std::vector<std::string> shape_texts() const;  // "2x64", "2"
  std::vector<std::int64_t> counts() const;
  // "classifier.weight [2,64] (128), classifier.bias [2] (2); D = 130"
  std::string describe() const;

 private:
  std::vector<ParamSlice> params_;
  std::int64_t dim_ = 0;
};

}  // namespace fathom::grads
