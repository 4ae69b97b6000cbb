#include "solver_options.h"

namespace fathom::cli {

void add_solver_flags(CLI::App& sub, attrib::SolverOptions& o) {
  sub.add_option("--solver", o.solver, "lissa | cg | exact | arnoldi | ekfac")->capture_default_str();
  sub.add_option("--damping", o.damping, "lambda of (H + lambda I)^-1")->capture_default_str();
  sub.add_option("--seed", o.seed, "seed of mini-batches, start vectors and sampled labels")->capture_default_str();
  sub.add_option("--depth", o.depth, "lissa: recursion steps")->capture_default_str();
  sub.add_option("--repeats", o.repeats, "lissa: independent runs averaged (spread over ranks)")
      ->capture_default_str();
  sub.add_option("--batch", o.batch, "lissa: training rows per HVP mini-batch")->capture_default_str();
  sub.add_option("--scale", o.scale, "lissa: scale s (> largest Hessian eigenvalue); 0 = 1.5 x estimated lambda_max")
      ->capture_default_str();
  sub.add_option("--power-iterations", o.power_iterations, "lissa: power iterations for lambda_max")
      ->capture_default_str();
  sub.add_option("--tolerance", o.tolerance, "cg: relative residual to stop at")->capture_default_str();
  sub.add_option("--max-iterations", o.max_iterations, "cg: iterations at most")->capture_default_str();
  sub.add_option("--max-exact-dim", o.max_exact_dim, "exact: largest parameter count")->capture_default_str();
  sub.add_option("--rank", o.rank, "arnoldi: eigenpairs kept")->capture_default_str();
  sub.add_option("--lanczos-steps", o.lanczos_steps, "arnoldi: Lanczos steps (0 = 2 x rank)")->capture_default_str();
  sub.add_option("--arnoldi-file", o.arnoldi_path, "arnoldi: eigenpairs file (reused when it matches)");
  sub.add_option("--ekfac-file", o.ekfac_path, "ekfac: factors file (reused when it matches)");
  sub.add_option("--ekfac-samples", o.ekfac_samples, "ekfac: sampled labels per example")->capture_default_str();
}

}  // namespace fathom::cli
