// `fathom doctor`: checks that every rank can talk to every other rank, with
// results checked against values computed locally.
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <iostream>
#include <sstream>

#include "command.h"
#include "fathom/core/error.h"
#include "fathom/core/threads.h"

namespace fathom::cli {
namespace {

std::string hostname() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

struct Check {
  std::string name;
  bool ok;
  std::string detail;
};

std::vector<Check> run_checks(comm::Communicator& c) {
  const int r = c.rank(), n = c.size();
  std::vector<Check> checks;
  auto add = [&](std::string name, bool ok, std::string detail) {
    checks.push_back({std::move(name), ok, std::move(detail)});
  };

  // all-reduce sum over float64 and int64, max over float32: closed forms.
  std::vector<double> d = {double(r + 1), 0.5 * r};
  c.all_reduce(d, comm::ReduceOp::sum);
  double want_sum = n * (n + 1) / 2.0;
  add("all_reduce sum f64", std::abs(d[0] - want_sum) < 1e-9 && std::abs(d[1] - 0.5 * (n - 1) * n / 2.0) < 1e-9,
      "got " + std::to_string(d[0]) + ", expected " + std::to_string(want_sum));
  std::int64_t big = c.all_reduce_value<std::int64_t>(std::int64_t(1) << 40, comm::ReduceOp::sum);
  add("all_reduce sum i64 (2^40 per rank)", big == (std::int64_t(1) << 40) * n, "got " + std::to_string(big));
  float mx = c.all_reduce_value<float>(float(r), comm::ReduceOp::max);
  add("all_reduce max f32", mx == float(n - 1), "got " + std::to_string(mx));

  // broadcast from the last rank (a non-zero root when n > 1).
  std::vector<std::int64_t> b(3, -1);
  if (r == n - 1) b = {7, 11, 13};
  c.broadcast(b.data(), 3, comm::DType::i64, n - 1);
  add("broadcast i64 from rank " + std::to_string(n - 1), b == std::vector<std::int64_t>({7, 11, 13}), "");

  // all-gather: slot k must hold k*k.
  auto g = c.all_gather_value<std::int64_t>(std::int64_t(r) * r);
  bool gok = int(g.size()) == n;
  for (int k = 0; gok && k < n; ++k) gok = g[k] == std::int64_t(k) * k;
  add("all_gather i64", gok, "");

  // gatherv to rank 0: rank k sends k+1 values k; only the root receives.
  const std::vector<std::int64_t> mine(std::size_t(r + 1), std::int64_t(r));
  const auto bytes = c.gatherv(mine.data(), std::int64_t(mine.size()), comm::DType::i64, 0);
  bool vok = c.is_root() ? bytes.size() == sizeof(std::int64_t) * std::size_t(n) * std::size_t(n + 1) / 2
                         : bytes.empty();
  if (c.is_root() && vok) {
    std::vector<std::int64_t> v(bytes.size() / sizeof(std::int64_t));
    std::memcpy(v.data(), bytes.data(), bytes.size());
    for (int k = 0, at = 0; vok && k < n; ++k)
      for (int i = 0; vok && i <= k; ++i) vok = v[at++] == k;
  }
  add("gatherv i64 to rank 0", vok, "");
  return checks;
}

}  // namespace

Registered register_doctor(CLI::App& app, Context& ctx) {
  auto* sub = app.add_subcommand("doctor", "Check the parallel set-up: every rank reports and collectives are verified");
  sub->footer("Run as: mpirun -np N fathom doctor. Prints one line per rank (host, rank, size, threads, backend)\n"
              "and one line per collective check on rank 0; exits 1 if any check fails on any rank.");
  return {sub, [&ctx] {
            auto& c = ctx.comm();
            std::ostringstream me;
            me << "host=" << hostname() << " rank=" << c.rank() << " size=" << c.size()
               << " threads=" << threads_per_rank(ctx.threads) << " backend=" << c.backend()
               << " pid=" << ::getpid();
            std::string line = me.str();
            std::vector<std::int64_t> counts;
            // Only rank 0 prints: the other ranks' lines go to it alone.
            auto all = c.gatherv(line.data(), std::int64_t(line.size()), comm::DType::u8, 0, &counts);
            auto checks = run_checks(c);
            std::int64_t failed_here = 0;
            for (auto& ch : checks) failed_here += ch.ok ? 0 : 1;
            std::int64_t failed = c.all_reduce_value<std::int64_t>(failed_here);
            if (c.is_root()) {
              std::size_t off = 0;
              for (auto n : counts) {
                std::cout << "  " << std::string(all.begin() + off, all.begin() + off + n) << "\n";
                off += std::size_t(n);
              }
              for (auto& ch : checks)
                std::cout << (ch.ok ? "  ok    " : "  FAIL  ") << ch.name << (ch.ok ? "" : ": " + ch.detail) << "\n";
              std::cout << (failed == 0 ? "doctor: all checks passed on " : "doctor: checks FAILED on ")
                        << c.size() << " rank(s)\n";
            }
            if (failed != 0) throw Error("doctor: " + std::to_string(failed) + " collective check(s) failed");
            return 0;
          }};
}

}  // namespace fathom::cli
