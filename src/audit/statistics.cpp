#include "fathom/audit/statistics.h"

#include <cmath>
#include <string>

#include "fathom/core/error.h"

namespace fathom::audit {

double normal_upper_quantile(double q) {
  if (!(q > 0.0 && q < 1.0)) throw UsageError("normal_upper_quantile: q = " + std::to_string(q) + ", expected 0 < q < 1");
  if (q > 0.5) return -normal_upper_quantile(1.0 - q);
  if (q == 0.5) return 0.0;
  // Start from the tail asymptote, then Newton on ln Q(z) - ln q, which is
  // nearly linear in the tail (Q(z) = P(Z > z) = erfc(z / sqrt 2) / 2).
  const double t = -2.0 * std::log(q);
  double z = std::sqrt(std::max(t - std::log(std::max(t, 1.0)) - std::log(2.0 * M_PI), 0.0));
  for (int it = 0; it < 100; ++it) {
    const double Q = 0.5 * std::erfc(z / M_SQRT2);
    const double phi = std::exp(-0.5 * z * z) / std::sqrt(2.0 * M_PI);
    const double step = (std::log(Q) - std::log(q)) / (phi / Q);  // g / -g'
    z += step;
    if (std::fabs(step) < 1e-13 * std::max(1.0, std::fabs(z))) break;
  }
  return z;
}

TokenStatistics compute_statistics(const TokenLabelCounts& counts, const StatisticsOptions& o) {
  if (!(o.smoothing >= 0.0) || !std::isfinite(o.smoothing))
    throw UsageError("audit: --smoothing " + std::to_string(o.smoothing) + ": expected k >= 0");
  if (!(o.alpha > 0.0 && o.alpha < 1.0))
    throw UsageError("audit: --alpha " + std::to_string(o.alpha) + ": expected 0 < alpha < 1");
  if (o.min_count < 1) throw UsageError("audit: --min-count " + std::to_string(o.min_count) + ": expected >= 1");
  const std::int64_t L = std::int64_t(counts.labels().size());
  if (L < 2) throw Error("audit: fewer than two labels; z* and PMI compare labels");

  TokenStatistics s;
  s.labels = L;
  s.label_tokens.assign(std::size_t(L), 0);
  for (std::uint32_t id : counts.sorted_ids()) {
    const std::int64_t n = counts.document_frequency(id);
    if (n < o.min_count) continue;
    s.ids.push_back(id);
    s.n.push_back(n);
    for (int y = 0; y < L; ++y) s.label_tokens[std::size_t(y)] += counts.count(id, y);
  }
  const std::size_t V = s.ids.size();
  s.tests = std::int64_t(V);
  s.z_threshold = V > 0 ? normal_upper_quantile(o.alpha / double(V)) : 0.0;

  const double k = o.smoothing;
  const double p0 = 1.0 / double(L);
  const double sd1 = std::sqrt(p0 * (1.0 - p0));
  double total = 0;  // T
  for (std::int64_t y = 0; y < L; ++y) total += double(s.label_tokens[std::size_t(y)]);
  total += k * double(V) * double(L);
  s.z.resize(V * std::size_t(L));
  s.pmi.resize(V * std::size_t(L));
  for (std::size_t i = 0; i < V; ++i) {
    const double n = double(s.n[i]);
    for (int y = 0; y < L; ++y) {
      const double c = double(counts.count(s.ids[i], y));
      const std::size_t at = i * std::size_t(L) + std::size_t(y);
      s.z[at] = (c / n - p0) / (sd1 / std::sqrt(n));
      const double joint = c + k;
      const double row = n + k * double(L);
      const double col = double(s.label_tokens[std::size_t(y)]) + k * double(V);
      // ln(0) = -inf when k = 0 and the pair never occurs: kept as is (JSON writes null).
      s.pmi[at] = std::log(joint) + std::log(total) - std::log(row) - std::log(col);
    }
  }
  return s;
}

}  // namespace fathom::audit
