// The last layer as a convex problem (representer_head.h): rank-count
// independent sums, the objective, α, and the L-BFGS fit.
#include "fathom/attrib/representer_head.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <fmt/format.h>
#include <limits>

#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/data/example.h"
#include "fathom/data/shard.h"

namespace fathom::attrib {

// ---- reduction plan -------------------------------------------------------

ReductionPlan ReductionPlan::make(std::int64_t rows, std::int64_t rows_per_chunk, std::int64_t max_blocks) {
  if (rows < 1) throw UsageError("representer: no rows to reduce over (rows = " + std::to_string(rows) + ")");
  if (rows_per_chunk < 1 || max_blocks < 1)
    throw UsageError("representer: rows_per_chunk and max_blocks must be >= 1");
  const std::int64_t chunks = (rows + rows_per_chunk - 1) / rows_per_chunk;
  const std::int64_t chunks_per_block = (chunks + max_blocks - 1) / max_blocks;
  ReductionPlan p;
  p.rows = rows;
  p.block_rows = std::min(rows, chunks_per_block * rows_per_chunk);
  p.blocks = (rows + p.block_rows - 1) / p.block_rows;
  return p;
}

store::RowRange ReductionPlan::block(std::int64_t b) const {
  const std::int64_t begin = b * block_rows;
  return {begin, std::min(rows, begin + block_rows) - begin};
}

std::int64_t ReductionPlan::first_block(int rank, int size) const {
  return data::shard_range(blocks, rank, size).begin;
}

std::int64_t ReductionPlan::end_block(int rank, int size) const { return data::shard_range(blocks, rank, size).end; }

store::RowRange ReductionPlan::rank_rows(int rank, int size) const {
  const std::int64_t b0 = first_block(rank, size), b1 = end_block(rank, size);
  const std::int64_t begin = std::min(rows, b0 * block_rows), end = std::min(rows, b1 * block_rows);
  return {begin, end - begin};
}

std::vector<double> sum_over_blocks(const ReductionPlan& plan, std::int64_t width,
                                    const std::function<void(std::int64_t block, double* partial)>& block_sum,
                                    comm::Communicator& comm) {
  // Own blocks first (in parallel over ranks), then the chain: rank r adds its
  // block sums, in block order, to the running total it received from rank
  // r-1 and broadcasts it. The additions happen in block order whatever the
  // number of ranks.
  const std::int64_t b0 = plan.first_block(comm.rank(), comm.size());
  const std::int64_t b1 = plan.end_block(comm.rank(), comm.size());
  std::vector<double> partials(std::size_t((b1 - b0) * width), 0.0);
  for (std::int64_t b = b0; b < b1; ++b) block_sum(b, partials.data() + (b - b0) * width);
  std::vector<double> total(std::size_t(width), 0.0);
  for (int r = 0; r < comm.size(); ++r) {
    if (r == comm.rank())
      for (std::int64_t b = b0; b < b1; ++b) {
        const double* p = partials.data() + (b - b0) * width;
        for (std::int64_t j = 0; j < width; ++j) total[std::size_t(j)] += p[j];
      }
    comm.broadcast(total.data(), width, comm::DType::f64, r);
  }
  return total;
}

// ---- head -----------------------------------------------------------------

std::vector<double> Head::flat() const {
  std::vector<double> theta(weight);
  theta.insert(theta.end(), bias.begin(), bias.end());
  return theta;
}

Head Head::from_flat(const std::vector<double>& theta, std::int64_t classes, std::int64_t dim) {
  if (std::int64_t(theta.size()) != classes * dim + classes)
    throw Error("representer: head vector of " + std::to_string(theta.size()) + " values, expected " +
                std::to_string(classes * dim + classes));
  Head h;
  h.classes = classes;
  h.dim = dim;
  h.weight.assign(theta.begin(), theta.begin() + classes * dim);
  h.bias.assign(theta.begin() + classes * dim, theta.end());
  return h;
}

namespace {

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

double norm(const std::vector<double>& a) { return std::sqrt(dot(a, a)); }

// p = softmax(W x + b) of one row; returns log Σ exp(z) and fills z and p.
double softmax_row(const Head& h, const float* x, double* z, double* p) {
  const std::int64_t C = h.classes, H = h.dim;
  double zmax = -std::numeric_limits<double>::infinity();
  for (std::int64_t c = 0; c < C; ++c) {
    const double* w = h.weight.data() + c * H;
    double s = h.bias[std::size_t(c)];
    for (std::int64_t k = 0; k < H; ++k) s += w[k] * double(x[k]);
    z[c] = s;
    zmax = std::max(zmax, s);
  }
  double sum = 0;
  for (std::int64_t c = 0; c < C; ++c) sum += (p[c] = std::exp(z[c] - zmax));
  for (std::int64_t c = 0; c < C; ++c) p[c] /= sum;
  return zmax + std::log(sum);
}

}  // namespace

// ---- problem --------------------------------------------------------------

HeadProblem::HeadProblem(HeadRows rows, std::int64_t classes, double lambda, comm::Communicator& comm)
    : rows_(std::move(rows)), classes_(classes), lambda_(lambda), comm_(&comm) {
  if (!(lambda > 0) || !std::isfinite(lambda))
    throw UsageError("representer: --lambda must be > 0, got " + fmt::format("{}", lambda));
  if (classes < 1) throw UsageError("representer: the head needs at least one class");
  std::int64_t labelled = 0;
  std::int64_t bad_row = -1;
  for (std::int64_t i = 0; i < rows_.rows; ++i) {
    const std::int64_t y = rows_.labels[std::size_t(i)];
    if (y == data::kNoLabel) continue;
    if ((y < 0 || y >= classes) && bad_row < 0) bad_row = rows_.first_row + i;
    ++labelled;
  }
  // Agree on the outcome before throwing, so no rank waits in a collective.
  const std::int64_t first_bad = comm.all_reduce_value(bad_row < 0 ? std::numeric_limits<std::int64_t>::max() : bad_row,
                                                       comm::ReduceOp::min);
  labelled_ = comm.all_reduce_value(labelled);
  if (first_bad != std::numeric_limits<std::int64_t>::max())
    throw InputError(rows_.source, 0, "labels",
                     "row " + std::to_string(first_bad) + " has a label index outside [0, " + std::to_string(classes) +
                         ") and not -1 (no label)");
  if (labelled_ == 0) throw UsageError("representer: the cache has no labelled row (every /labels entry is -1)");
}

HeadEvaluation HeadProblem::evaluate(const Head& head) const {
  const std::int64_t C = classes_, H = rows_.dim;
  const std::int64_t width = C * H + C + 1;  // ∇W sums, ∇b sums, loss sum
  std::vector<double> z(static_cast<std::size_t>(C)), p(static_cast<std::size_t>(C));
  auto block_sum = [&](std::int64_t b, double* partial) {
    const store::RowRange r = rows_.plan.block(b);
    double* gw = partial;
    double* gb = partial + C * H;
    // Neumaier-compensated loss: line searches compare objectives that differ
    // by ~1e-14 near the optimum.
    double loss = 0, carry = 0;
    for (std::int64_t row = r.begin; row < r.end(); ++row) {
      const std::int64_t i = row - rows_.first_row;
      const std::int64_t y = rows_.labels[std::size_t(i)];
      if (y == data::kNoLabel) continue;
      const float* x = rows_.features.data() + i * H;
      const double lse = softmax_row(head, x, z.data(), p.data());
      const double li = lse - z[std::size_t(y)];
      const double t = loss + li;
      carry += std::abs(loss) >= std::abs(li) ? (loss - t) + li : (li - t) + loss;
      loss = t;
      for (std::int64_t c = 0; c < C; ++c) {
        const double g = p[std::size_t(c)] - (c == y ? 1.0 : 0.0);
        double* w = gw + c * H;
        for (std::int64_t k = 0; k < H; ++k) w[k] += g * double(x[k]);
        gb[c] += g;
      }
    }
    partial[C * H + C] = loss + carry;
  };
  const std::vector<double> sums = sum_over_blocks(rows_.plan, width, block_sum, *comm_);

  const double n = double(labelled_);
  HeadEvaluation e;
  e.gradient.resize(std::size_t(C * H + C));
  double penalty = 0;
  for (std::int64_t j = 0; j < C * H; ++j) {
    const double w = head.weight[std::size_t(j)];
    penalty += w * w;
    e.gradient[std::size_t(j)] = sums[std::size_t(j)] / n + 2.0 * lambda_ * w;
  }
  for (std::int64_t c = 0; c < C; ++c) e.gradient[std::size_t(C * H + c)] = sums[std::size_t(C * H + c)] / n;
  e.mean_loss = sums[std::size_t(C * H + C)] / n;
  e.objective = e.mean_loss + lambda_ * penalty;
  e.gradient_norm = norm(e.gradient);
  return e;
}

std::vector<double> HeadProblem::alpha(const Head& head) const {
  const std::int64_t C = classes_, H = rows_.dim;
  const double scale = 1.0 / (2.0 * lambda_ * double(labelled_));
  std::vector<double> a(std::size_t(rows_.rows * C), 0.0);
  std::vector<double> z(static_cast<std::size_t>(C)), p(static_cast<std::size_t>(C));
  for (std::int64_t i = 0; i < rows_.rows; ++i) {
    const std::int64_t y = rows_.labels[std::size_t(i)];
    if (y == data::kNoLabel) continue;
    softmax_row(head, rows_.features.data() + i * H, z.data(), p.data());
    for (std::int64_t c = 0; c < C; ++c)
      a[std::size_t(i * C + c)] = ((c == y ? 1.0 : 0.0) - p[std::size_t(c)]) * scale;
  }
  return a;
}

std::vector<double> HeadProblem::reconstructed_weight(const std::vector<double>& local_alpha) const {
  const std::int64_t C = classes_, H = rows_.dim;
  auto block_sum = [&](std::int64_t b, double* partial) {
    const store::RowRange r = rows_.plan.block(b);
    for (std::int64_t row = r.begin; row < r.end(); ++row) {
      const std::int64_t i = row - rows_.first_row;
      const float* x = rows_.features.data() + i * H;
      for (std::int64_t c = 0; c < C; ++c) {
        const double a = local_alpha[std::size_t(i * C + c)];
        if (a == 0.0) continue;
        double* w = partial + c * H;
        for (std::int64_t k = 0; k < H; ++k) w[k] += a * double(x[k]);
      }
    }
  };
  return sum_over_blocks(rows_.plan, C * H, block_sum, *comm_);
}

// ---- L-BFGS -----------------------------------------------------------------

FitResult fit_head(const HeadProblem& problem, const Head& start, const FitOptions& o) {
  if (!(o.tolerance > 0)) throw UsageError("representer: --tolerance must be > 0");
  if (o.max_iterations < 0) throw UsageError("representer: --max-iterations must be >= 0");
  if (o.memory < 1) throw UsageError("representer: L-BFGS memory must be >= 1");
  const std::int64_t C = start.classes, H = start.dim;

  FitResult r;
  std::vector<double> x = start.flat();
  HeadEvaluation e = problem.evaluate(start);
  r.evaluations = 1;
  r.before = e;
  r.head = start;
  r.after = e;
  if (e.gradient_norm <= o.tolerance) {
    r.converged = true;
    r.stop_reason = "tolerance";
    return r;
  }
  r.fitted = true;
  r.stop_reason = "max_iterations";

  std::deque<std::vector<double>> S, Y;
  std::deque<double> rho;
  const double c1 = 1e-4;
  for (std::int64_t it = 1; it <= o.max_iterations; ++it) {
    // Two-loop recursion: d = -H_k g.
    std::vector<double> q = e.gradient;
    std::vector<double> a(S.size());
    for (std::size_t j = S.size(); j-- > 0;) {
      a[j] = rho[j] * dot(S[j], q);
      for (std::size_t k = 0; k < q.size(); ++k) q[k] -= a[j] * Y[j][k];
    }
    const double gamma = S.empty() ? 1.0 / std::max(1.0, e.gradient_norm) : dot(S.back(), Y.back()) / dot(Y.back(), Y.back());
    for (double& v : q) v *= gamma;
    for (std::size_t j = 0; j < S.size(); ++j) {
      const double b = rho[j] * dot(Y[j], q);
      for (std::size_t k = 0; k < q.size(); ++k) q[k] += S[j][k] * (a[j] - b);
    }
    std::vector<double> d(q.size());
    for (std::size_t k = 0; k < q.size(); ++k) d[k] = -q[k];
    double slope = dot(e.gradient, d);
    if (!(slope < 0)) {  // not a descent direction (rounding): restart from steepest descent
      S.clear();
      Y.clear();
      rho.clear();
      for (std::size_t k = 0; k < d.size(); ++k) d[k] = -e.gradient[k] / std::max(1.0, e.gradient_norm);
      slope = dot(e.gradient, d);
    }

    double step = 1.0;
    bool accepted = false;
    std::vector<double> x_new(x.size());
    HeadEvaluation e_new;
    for (int halvings = 0; halvings <= 50; ++halvings, step *= 0.5) {
      for (std::size_t k = 0; k < x.size(); ++k) x_new[k] = x[k] + step * d[k];
      e_new = problem.evaluate(Head::from_flat(x_new, C, H));
      ++r.evaluations;
      if (std::isfinite(e_new.objective) && e_new.objective <= e.objective + c1 * step * slope) {
        accepted = true;
        break;
      }
    }
    if (!accepted) {
      r.stop_reason = "line_search";
      break;
    }
    std::vector<double> s(x.size()), y(x.size());
    for (std::size_t k = 0; k < x.size(); ++k) {
      s[k] = x_new[k] - x[k];
      y[k] = e_new.gradient[k] - e.gradient[k];
    }
    const double sy = dot(s, y);
    if (sy > 1e-12 * norm(s) * norm(y)) {  // keep the update positive definite
      S.push_back(std::move(s));
      Y.push_back(std::move(y));
      rho.push_back(1.0 / sy);
      if (std::int64_t(S.size()) > o.memory) {
        S.pop_front();
        Y.pop_front();
        rho.pop_front();
      }
    }
    x = std::move(x_new);
    e = std::move(e_new);
    r.iterations = it;
    if (e.gradient_norm <= o.tolerance) {
      r.stop_reason = "tolerance";
      break;
    }
  }
  r.head = Head::from_flat(x, C, H);
  r.after = e;
  r.converged = e.gradient_norm <= o.tolerance;
  return r;
}

}  // namespace fathom::attrib
