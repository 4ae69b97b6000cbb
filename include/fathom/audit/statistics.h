#pragma once
// PMI and Gardner et al.'s z* from token-label document counts
// (docs/methods.md, dataset artifacts).
//
// Notation, for a token w (tested: n_w >= min_count) and a label y:
//   N      examples; N_y examples with label y; L = number of labels
//   c_wy   examples with label y that contain w (each example counts once)
//   n_w    = sum_y c_wy, the examples that contain w
//   V      tokens tested; k the add-k smoothing constant
//
//   PMI(w, y) = ln[ p(w, y) / (p(w) p(y)) ] over the smoothed table c'_wy = c_wy + k
//             = ln[ c'_wy T / ((n_w + kL) (S_y + kV)) ],
//     with S_y = sum_w c_wy and T = sum_{w,y} c'_wy = sum_y S_y + kVL (natural log).
//   z*(w, y)  = (p̂ - p0) / sqrt(p0 (1 - p0) / n_w),  p̂ = c_wy / n_w,  p0 = 1 / L
//     (one-sided: large z* = w over-represented in y against the uniform-label null).
//   Significant when z* > z_c, z_c = Φ⁻¹(1 - α / V): the Bonferroni correction
//   for the V tokens tested.
#include <cstdint>
#include <vector>

#include "fathom/audit/token_counts.h"

namespace fathom::audit {

struct StatisticsOptions {
  double smoothing = 100.0;     // k, add-k smoothing of the (token, label) counts for PMI
  double alpha = 0.01;          // family-wise significance level before Bonferroni
  std::int64_t min_count = 1;   // tokens in fewer examples are not tested (nor in V)
};

// Statistics of the tested tokens, in byte order of the token. Refers to the
// TokenLabelCounts it was computed from (token strings by id).
struct TokenStatistics {
  std::int64_t labels = 0;                 // L
  std::int64_t tests = 0;                  // V, tokens tested
  double z_threshold = 0;                  // z_c
  std::vector<std::int64_t> label_tokens;  // S_y
  std::vector<std::uint32_t> ids;          // [V] token ids in the counts
  std::vector<std::int64_t> n;             // [V] n_w
  std::vector<double> z, pmi;              // [V * L], row-major: token i, label y at i * L + y

  double z_at(std::size_t i, int y) const { return z[i * std::size_t(labels) + std::size_t(y)]; }
  double pmi_at(std::size_t i, int y) const { return pmi[i * std::size_t(labels) + std::size_t(y)]; }
};

// Throws UsageError for k < 0, α outside (0, 1) or min_count < 1, and
// InputError-free Error when the counts have fewer than two labels (the
// caller reports that with the corpus name).
TokenStatistics compute_statistics(const TokenLabelCounts& counts, const StatisticsOptions& options);

// z with P(Z > z) = q for a standard normal Z, q in (0, 1); accurate in the far
// tail (q down to 1e-300) by Newton steps on erfc.
double normal_upper_quantile(double q);

}  // namespace fathom::audit
