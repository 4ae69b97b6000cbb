// Head retraining on frozen features for `fathom lds` (lds.h): one rank fits
// alone, through the same objective and L-BFGS as representer points.
#include <algorithm>

#include "fathom/attrib/lds.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"

namespace fathom::attrib {

HeadRefit refit_head(const FrozenHead& data, const std::vector<std::int64_t>& rows, const Head& start,
                     const FitOptions& fit) {
  if (rows.empty()) throw UsageError("refit_head: no rows to fit on");
  const std::int64_t H = data.dim, k = std::int64_t(rows.size());
  HeadRows r;
  r.source = "frozen features";
  // Reduction blocks of 256 rows: a fixed summation order for a given subset.
  r.plan = ReductionPlan::make(k, 256, 1 << 20);
  r.first_row = 0;
  r.rows = k;
  r.dim = H;
  r.features.resize(std::size_t(k * H));
  r.labels.resize(std::size_t(k));
  for (std::int64_t j = 0; j < k; ++j) {
    const std::int64_t i = rows[std::size_t(j)];
    if (i < 0 || i >= data.rows)
      throw UsageError("refit_head: row " + std::to_string(i) + " outside [0, " + std::to_string(data.rows) + ")");
    std::copy_n(data.features.begin() + i * H, H, r.features.begin() + j * H);
    r.labels[std::size_t(j)] = data.labels[std::size_t(i)];
  }
  auto local = comm::make_communicator("local");
  const HeadProblem problem(std::move(r), data.classes, data.lambda, *local);
  FitResult f = fit_head(problem, start, fit);
  HeadRefit out;
  out.head = std::move(f.head);
  out.converged = f.converged;
  out.gradient_norm = f.after.gradient_norm;
  out.iterations = f.iterations;
  out.stop_reason = f.stop_reason;
  return out;
}

}  // namespace fathom::attrib
