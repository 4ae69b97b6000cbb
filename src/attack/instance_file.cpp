// The shell of `fathom hotflip` and `fathom reduce`: a query file attacked in
// batches shared over ranks, written in input order (attack_internal.h).
#include <chrono>
#include <memory>

#include "attack_internal.h"
#include "fathom/comm/collective_check.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"
#include "fathom/core/log.h"
#include "fathom/core/progress.h"

namespace fathom::attack::detail {
namespace {

// Batches per block: every rank parses one block of the query file at a time.
constexpr std::int64_t kBatchesPerBlock = 16;

}  // namespace

InstanceFileResult run_instance_file(
    const InstanceFileOptions& o, const std::string& name, comm::Communicator& comm, const BatchAttack& attack,
    const std::function<void(const nlohmann::json& line, InstanceTally& tally)>& tally,
    const std::function<void(nlohmann::ordered_json& meta, const InstanceTally& tally)>& meta) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.queries.empty()) throw UsageError(name + ": no queries given (--queries)");
  if (o.out.empty()) throw UsageError(name + ": no output given (--out)");
  if (o.batch < 1) throw UsageError(name + ": --batch must be >= 1, got " + std::to_string(o.batch));
  model::configure_threads(o.threads);
  model::Bundle bundle = load_model(o.model_dir, comm);
  comm::collective_check(comm, "checking the " + name + " options", [&] { attack(bundle, {}); });
  std::int64_t total = 0;
  comm::collective_check(comm, "counting records of " + o.queries,
                         [&] { total = data::count_records(o.queries, o.query_options); });
  std::unique_ptr<data::CorpusReader> reader;
  comm::collective_check(comm, "opening " + o.queries,
                         [&] { reader = std::make_unique<data::CorpusReader>(o.queries, o.query_options); });

  // Validated: from here on the output is written (rank 0, atomically).
  std::unique_ptr<AtomicFile> out;
  comm::on_root(comm, "opening " + o.out, [&] {
    make_parent_dir(o.out);
    out = std::make_unique<AtomicFile>(o.out);
  });
  Progress progress(name, total, "ex", o.progress_period_s);
  InstanceTally t;
  std::vector<std::string> kept;
  for (;;) {
    std::vector<data::Example> block;
    comm::collective_check(comm, "reading " + o.queries,
                           [&] { block = data::read_up_to(*reader, o.batch * kBatchesPerBlock); });
    if (block.empty()) break;
    const auto n = std::int64_t(block.size());
    const std::vector<std::string> parts = gather_units_on_root(
        (n + o.batch - 1) / o.batch,
        [&](std::int64_t u) {
          const auto first = block.begin() + u * o.batch;
          const std::vector<data::Example> part(first, first + std::min(o.batch, n - u * o.batch));
          std::string text;
          for (const std::string& line : attack(bundle, part)) text += line + "\n";
          return text;
        },
        comm);
    comm::on_root(comm, "writing " + o.out, [&] {
      for (const std::string& part : parts) {
        out->stream() << part;
        std::size_t at = 0;
        for (std::size_t nl; (nl = part.find('\n', at)) != std::string::npos; at = nl + 1) {
          ++t.n;
          tally(nlohmann::json::parse(part.substr(at, nl - at)), t);
          if (std::int64_t(kept.size()) < o.keep_lines) kept.push_back(part.substr(at, nl - at));
        }
      }
    });
    progress.advance(n);
  }
  progress.finish();
  if (comm.is_root() && reader->skipped() > 0)
    spdlog::warn("{}: {} bad query records of {} were skipped", name, reader->skipped(), o.queries);

  // Only rank 0 tallied: the sums give every rank the same result.
  double sums[7] = {double(t.n),     double(t.successes), double(t.correct),        double(t.correct_successes),
                    t.steps,         t.original_length,   t.reduced_length};
  if (!comm.is_root()) std::fill(std::begin(sums), std::end(sums), 0.0);
  comm.all_reduce(sums, 7, comm::DType::f64, comm::ReduceOp::sum);
  t = {std::int64_t(sums[0]), std::int64_t(sums[1]), std::int64_t(sums[2]), std::int64_t(sums[3]),
       sums[4],               sums[5],               sums[6]};
  InstanceFileResult r;
  r.n = t.n;
  r.successes = t.successes;
  r.success_rate = t.n > 0 ? double(t.successes) / double(t.n) : 0.0;
  r.mean_steps = t.successes > 0 ? t.steps / double(t.successes) : 0.0;
  r.correct = t.correct;
  if (t.correct > 0) r.success_rate_correct = double(t.correct_successes) / double(t.correct);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.instances_per_s = r.seconds > 0 ? double(t.n) / r.seconds : 0.0;
  r.first_lines = std::move(kept);
  comm::on_root(comm, "writing " + o.out, [&] {
    out->commit();
    nlohmann::ordered_json m = {{"format", "fathom-" + name + "-meta"},
                                {"format_version", 1},
                                {"model_dir", o.model_dir},
                                {"queries", o.queries},
                                {"batch", o.batch}};
    meta(m, t);
    m["n"] = r.n;
    m["successes"] = r.successes;
    m["success_rate"] = r.success_rate;
    m["seconds"] = r.seconds;
    m["instances_per_s"] = r.instances_per_s;
    m["ranks"] = comm.size();
    write_file_atomic(o.out + ".meta.json", m.dump(2) + "\n");
  });
  return r;
}

}  // namespace fathom::attack::detail
