#pragma once
// Random projections of gradient rows (METHODS.md §1.6): g [D] -> Pg [k].
//
// Spec strings (kept verbatim in cache attributes; parse_projection_spec):
//   "none"                  no projection (k = D)
//   "gaussian:K:SEED"       dense JL, P[k,D] with entries N(0,1)/√K
//   "rademacher:K:SEED"     dense JL, entries ±1/√K
//   "logra:K:SEED"          factorised per parameter (LoGra): a 2-D parameter
//                           [r,c] gets P_r ⊗ P_c with P_r [min(K,r), r] and
//                           P_c [min(K,c), c] (Gaussian /√k each); a 1-D (or
//                           other) parameter of n values gets a Gaussian
//                           [min(K,n), n]. A factor whose size is <= K is the
//                           identity (nothing to reduce, exact). k = Σ of
//                           the per-parameter products.
// E[PᵀP] = I for every kind, so ⟨Pg, Pg'⟩ is an unbiased estimate of
// ⟨g, g'⟩ and influence scores computed with s_test projected by the same P
// stay unbiased. P is never stored: it is regenerated from SEED block by block
// (dense: blocks of 4096 columns, each from its own generator seeded by
// (SEED, block)), on the CPU in float64 then cast, so every rank, run and
// device gets bit-identical P. Dense blocks are kept in memory up to a budget
// and regenerated on each call beyond it.
// Thread-safety: project() may be called from one thread at a time.
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>

#include "fathom/grads/param_layout.h"

namespace fathom::grads {

struct ProjectionSpec {
  std::string kind = "none";  // none | gaussian | rademacher | logra
  std::int64_t dim = 0;       // K
  std::uint64_t seed = 0;
  std::string text() const;   // canonical "kind:K:SEED" or "none"
};
// Throws UsageError naming the spec and the expected form.
ProjectionSpec parse_projection_spec(const std::string& spec);

class Projector {
 public:
  virtual ~Projector() = default;
  const ProjectionSpec& spec() const { return spec_; }
  std::int64_t input_dim() const { return input_dim_; }    // D
  std::int64_t output_dim() const { return output_dim_; }  // k
  // g [B,D] (any floating dtype, any device) -> [B,k], same dtype and device.
  virtual torch::Tensor project(const torch::Tensor& g) const = 0;

 protected:
  ProjectionSpec spec_;
  std::int64_t input_dim_ = 0, output_dim_ = 0;
};

// nullptr for "none". UsageError when k >= D (a projection that does not
// reduce anything: use "none"), K < 1, or an unknown kind.
std::unique_ptr<Projector> make_projector(const ProjectionSpec& spec, const ParamLayout& layout,
                                          std::size_t memory_budget_bytes = std::size_t(256) << 20);

// The LoGra projector's per-parameter factors, for the factorised path of
// per-example gradients (never forming the [r,c] gradient).
class FactorisedProjector : public Projector {
 public:
  // Columns of the output row that parameter i occupies: [offset, offset + width).
  virtual std::int64_t output_offset(int param) const = 0;
  virtual std::int64_t output_width(int param) const = 0;
  // 2-D parameter i: its factors, P_r [k_r, r] and P_c [k_c, c] in `dtype`
  // on `device` (identity factors are returned as undefined tensors).
  virtual std::pair<torch::Tensor, torch::Tensor> factors(int param, torch::ScalarType dtype,
                                                          const torch::Device& device) const = 0;
  virtual bool is_matrix(int param) const = 0;
};

}  // namespace fathom::grads
