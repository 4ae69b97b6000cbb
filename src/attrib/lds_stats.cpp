// The pure parts of `fathom lds` (lds.h): correlations, the bootstrap,
// subsets, query values, the score itself, and dealing jobs to ranks.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <limits>
#include <random>

#include "fathom/attrib/lds.h"
#include "fathom/comm/collective_check.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/model/train.h"

namespace fathom::attrib {
namespace stats {

std::vector<double> average_ranks(const std::vector<double>& x) {
  const std::size_t n = x.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return x[a] < x[b]; });
  std::vector<double> r(n);
  for (std::size_t a = 0; a < n;) {
    std::size_t b = a + 1;
    while (b < n && x[order[b]] == x[order[a]]) ++b;
    const double rank = 0.5 * double(a + 1 + b);  // mean of ranks a+1 .. b
    for (std::size_t k = a; k < b; ++k) r[order[k]] = rank;
    a = b;
  }
  return r;
}

std::optional<double> pearson(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size())
    throw UsageError("pearson: " + std::to_string(a.size()) + " values against " + std::to_string(b.size()));
  const std::size_t n = a.size();
  if (n < 2) return std::nullopt;
  double ma = 0, mb = 0;
  for (std::size_t i = 0; i < n; ++i) {
    ma += a[i];
    mb += b[i];
  }
  ma /= double(n);
  mb /= double(n);
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  if (!(saa > 0) || !(sbb > 0)) return std::nullopt;
  return sab / std::sqrt(saa * sbb);
}

std::optional<double> spearman(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size())
    throw UsageError("spearman: " + std::to_string(a.size()) + " values against " + std::to_string(b.size()));
  return pearson(average_ranks(a), average_ranks(b));
}

Interval bootstrap_mean_interval(const std::vector<double>& values, std::int64_t resamples, std::uint64_t seed,
                                 double level) {
  if (values.empty()) throw UsageError("bootstrap: no values");
  if (resamples < 1) throw UsageError("bootstrap: resamples must be >= 1");
  if (!(level > 0 && level < 1)) throw UsageError("bootstrap: level must be in (0, 1)");
  const std::uint64_t n = values.size();
  std::mt19937_64 rng(seed);
  // Largest multiple of n below 2^64: draws at or above it are rejected.
  const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % n;
  std::vector<double> means(static_cast<std::size_t>(resamples));
  for (auto& m : means) {
    double s = 0;
    for (std::uint64_t k = 0; k < n; ++k) {
      std::uint64_t x;
      do x = rng();
      while (x >= limit);
      s += values[x % n];
    }
    m = s / double(n);
  }
  std::sort(means.begin(), means.end());
  auto quantile = [&](double p) {  // linear interpolation between order statistics
    const double pos = p * double(means.size() - 1);
    const std::size_t lo = std::size_t(std::floor(pos));
    const std::size_t hi = std::min(lo + 1, means.size() - 1);
    return means[lo] + (pos - double(lo)) * (means[hi] - means[lo]);
  };
  return {quantile((1 - level) / 2), quantile(1 - (1 - level) / 2)};
}

}  // namespace stats

using stats::spearman;

std::int64_t subset_size(std::int64_t n, double fraction) {
  if (!(fraction > 0 && fraction < 1))
    throw UsageError("lds: --fraction must be in (0, 1), got " + std::to_string(fraction));
  const std::int64_t k = std::llround(fraction * double(n));
  if (k < 1 || k > n - 1)
    throw UsageError("lds: --fraction " + std::to_string(fraction) + " of " + std::to_string(n) +
                     " training rows gives subsets of " + std::to_string(k) + " rows (need 1 .. n-1)");
  return k;
}

std::vector<std::int64_t> draw_subset(std::int64_t n, double fraction, std::uint64_t seed, std::int64_t m) {
  const std::int64_t k = subset_size(n, fraction);
  std::vector<std::int64_t> p = model::epoch_permutation(n, seed, m + 1);
  p.resize(std::size_t(k));
  std::sort(p.begin(), p.end());
  return p;
}

namespace {

// neg_loss and margin of one logit row z[C] for target y.
void row_values(const double* z, std::int64_t classes, std::int64_t y, double* neg_loss, double* margin) {
  double top = z[0];
  for (std::int64_t c = 1; c < classes; ++c) top = std::max(top, z[c]);
  double all = 0, others = 0;
  double top_other = -std::numeric_limits<double>::infinity();
  for (std::int64_t c = 0; c < classes; ++c)
    if (c != y) top_other = std::max(top_other, z[c]);
  for (std::int64_t c = 0; c < classes; ++c) {
    all += std::exp(z[c] - top);
    if (c != y) others += std::exp(z[c] - top_other);
  }
  *neg_loss = z[y] - (top + std::log(all));
  *margin = classes > 1 ? z[y] - (top_other + std::log(others)) : 0.0;
}

void check_targets(const std::vector<std::int64_t>& targets, std::int64_t classes) {
  for (std::size_t q = 0; q < targets.size(); ++q)
    if (targets[q] < 0 || targets[q] >= classes)
      throw UsageError("lds: query " + std::to_string(q) + " has target " + std::to_string(targets[q]) +
                       ", outside [0, " + std::to_string(classes) + ")");
}

}  // namespace

QueryValues values_from_logits(const std::vector<double>& logits, std::int64_t classes,
                               const std::vector<std::int64_t>& targets) {
  const std::size_t q = targets.size();
  if (logits.size() != q * std::size_t(classes))
    throw UsageError("lds: " + std::to_string(logits.size()) + " logits for " + std::to_string(q) + " queries x " +
                     std::to_string(classes) + " classes");
  check_targets(targets, classes);
  QueryValues v;
  v.neg_loss.resize(q);
  v.margin.resize(q);
  for (std::size_t i = 0; i < q; ++i)
    row_values(logits.data() + i * classes, classes, targets[i], &v.neg_loss[i], &v.margin[i]);
  return v;
}

QueryValues values_at_head(const Head& head, const std::vector<float>& features,
                           const std::vector<std::int64_t>& targets) {
  const std::int64_t C = head.classes, H = head.dim, q = std::int64_t(targets.size());
  if (std::int64_t(features.size()) != q * H)
    throw UsageError("lds: " + std::to_string(features.size()) + " feature values for " + std::to_string(q) +
                     " queries of width " + std::to_string(H));
  std::vector<double> logits(std::size_t(q * C));
  for (std::int64_t i = 0; i < q; ++i)
    for (std::int64_t c = 0; c < C; ++c) {
      double z = head.bias[std::size_t(c)];
      const double* w = head.weight.data() + c * H;
      const float* f = features.data() + i * H;
      for (std::int64_t h = 0; h < H; ++h) z += w[h] * double(f[h]);
      logits[std::size_t(i * C + c)] = z;
    }
  return values_from_logits(logits, C, targets);
}

LdsStatistics lds_statistics(const std::vector<double>& actual, const std::vector<float>& scores, std::int64_t queries,
                             std::int64_t rows, const std::vector<std::vector<std::int64_t>>& subsets,
                             std::int64_t resamples, std::uint64_t seed) {
  const std::int64_t m_count = std::int64_t(subsets.size());
  if (std::int64_t(actual.size()) != m_count * queries || std::int64_t(scores.size()) != queries * rows)
    throw UsageError("lds: " + std::to_string(actual.size()) + " actual values and " + std::to_string(scores.size()) +
                     " scores do not fit " + std::to_string(m_count) + " subsets x " + std::to_string(queries) +
                     " queries x " + std::to_string(rows) + " rows");
  LdsStatistics s;
  s.per_query.resize(std::size_t(queries));
  std::vector<double> f(static_cast<std::size_t>(m_count)), g(static_cast<std::size_t>(m_count)), defined;
  for (std::int64_t q = 0; q < queries; ++q) {
    const float* row = scores.data() + q * rows;
    for (std::int64_t m = 0; m < m_count; ++m) {
      double sum = 0;
      for (std::int64_t i : subsets[std::size_t(m)]) {
        if (i < 0 || i >= rows) throw UsageError("lds: subset row " + std::to_string(i) + " out of range");
        sum += double(row[i]);
      }
      g[std::size_t(m)] = sum;
      f[std::size_t(m)] = actual[std::size_t(m * queries + q)];
    }
    s.per_query[std::size_t(q)] = spearman(f, g);
    if (s.per_query[std::size_t(q)]) defined.push_back(*s.per_query[std::size_t(q)]);
  }
  s.defined = std::int64_t(defined.size());
  if (!defined.empty()) {
    s.mean = std::accumulate(defined.begin(), defined.end(), 0.0) / double(defined.size());
    s.interval = stats::bootstrap_mean_interval(defined, resamples, seed);
  }
  return s;
}

std::vector<double> run_jobs(std::int64_t count, std::int64_t width, const std::vector<std::vector<double>>& known,
                             const std::function<std::vector<double>(std::int64_t)>& run,
                             const std::function<void()>& on_progress, comm::Communicator& comm) {
  if (!known.empty() && std::int64_t(known.size()) != count)
    throw UsageError("run_jobs: known results for " + std::to_string(known.size()) + " of " + std::to_string(count) +
                     " jobs");
  std::vector<double> out(static_cast<std::size_t>(count * width), 0.0);
  std::vector<std::int64_t> pending;
  for (std::int64_t m = 0; m < count; ++m) {
    const bool done = !known.empty() && !known[std::size_t(m)].empty();
    if (!done) {
      pending.push_back(m);
    } else if (comm.rank() == 0) {  // exactly one rank contributes each value to the sum below
      if (std::int64_t(known[std::size_t(m)].size()) != width)
        throw UsageError("run_jobs: known result of job " + std::to_string(m) + " has the wrong width");
      std::copy(known[std::size_t(m)].begin(), known[std::size_t(m)].end(), out.begin() + m * width);
    }
  }
  comm::collective_check(comm, "retraining", [&] {
    for (std::size_t k = std::size_t(comm.rank()); k < pending.size(); k += std::size_t(comm.size())) {
      const std::int64_t m = pending[k];
      const std::vector<double> v = run(m);
      if (std::int64_t(v.size()) != width)
        throw Error("run_jobs: job " + std::to_string(m) + " returned " + std::to_string(v.size()) + " values, not " +
                    std::to_string(width));
      std::copy(v.begin(), v.end(), out.begin() + m * width);
      if (on_progress) on_progress();
    }
  });
  // x + 0 == x exactly (and -0 + 0 == 0 is the same number): the sum is a gather.
  comm.all_reduce(out, comm::ReduceOp::sum);
  return out;
}

}  // namespace fathom::attrib
