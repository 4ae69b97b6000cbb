// `fathom run`: executes a job's steps in order, skipping completed ones.
// Three steps: plan (rank 0 decides which steps run, every rank follows),
// record (rank 0 owns <out>/run.json) and execute (every rank runs the steps).
#include <chrono>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "fathom/core/clock.h"
#include "fathom/cli/job.h"
#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"
#include "fathom/core/hash.h"
#include "fathom/core/log.h"
#include "fathom/core/memory.h"

namespace fathom::cli {
namespace fs = std::filesystem;
using nlohmann::json;

std::int64_t path_bytes(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return -1;
  if (!fs::is_directory(path, ec)) return std::int64_t(fs::file_size(path, ec));
  std::int64_t total = 0;
  for (auto& e : fs::recursive_directory_iterator(path, ec))
    if (e.is_regular_file(ec)) total += std::int64_t(e.file_size(ec));
  return total;
}

namespace {

std::string command_line(const JobStep& s) {
  std::string line = "fathom";
  for (auto& a : s.argv) line += " " + a;
  return line;
}

std::string run_json_path(const Job& job) { return (fs::path(job.out_dir) / "run.json").string(); }

// ---- plan -------------------------------------------------------------------

struct Plan {
  std::vector<std::uint8_t> runs;  // runs[i] = 1: execute step i; 0: its outputs are complete, skip it
  json previous;                   // rank 0: the run.json of the earlier run ({} if none)
};

void check_from_step(const Job& job, const RunOptions& options) {
  if (options.from.empty()) return;
  std::string names;
  for (auto& s : job.steps) {
    if (s.name == options.from) return;
    names += (names.empty() ? "" : ", ") + s.name;
  }
  throw UsageError("--from '" + options.from + "': no such step in " + job.path + " (steps: " + names + ")");
}

json load_previous(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return json::object();
  try {
    return json::parse(read_file(path));
  } catch (const json::exception& e) {
    // A damaged run.json only costs a re-run; say so rather than fail.
    spdlog::warn("ignoring unreadable {} ({}): all steps will run", path, e.what());
    return json::object();
  }
}

// The earlier record of step `name`, or nullptr.
const json* previous_entry(const json& previous, const std::string& name) {
  if (!previous.contains("steps")) return nullptr;
  for (auto& p : previous["steps"])
    if (p.value("name", "") == name) return &p;
  return nullptr;
}

// A step is complete if run.json recorded it done (or skipped as done) with
// the same hash and every recorded output still exists with the recorded size.
bool step_complete(const json& previous, const JobStep& s) {
  const json* p = previous_entry(previous, s.name);
  if (!p) return false;
  const std::string status = p->value("status", "");
  if ((status != "done" && status != "skipped") || p->value("hash", "") != s.hash) return false;
  if (!p->contains("outputs")) return true;
  for (auto& o : (*p)["outputs"]) {
    std::int64_t now = path_bytes(o.value("path", ""));
    if (now < 0 || now != o.value("bytes", std::int64_t(-2))) return false;
  }
  return true;
}

// COLLECTIVE: rank 0 reads the earlier run.json and decides; every rank gets
// the same `runs`.
Plan plan_steps(const Job& job, const RunOptions& options, comm::Communicator& comm) {
  Plan plan;
  plan.runs.assign(job.steps.size(), 1);
  if (comm.is_root()) {
    plan.previous = load_previous(run_json_path(job));
    bool rerun_rest = options.force;
    for (std::size_t i = 0; i < job.steps.size(); ++i) {
      if (job.steps[i].name == options.from) rerun_rest = true;
      plan.runs[i] = rerun_rest || !step_complete(plan.previous, job.steps[i]);
      // Once a step runs, later steps may read changed inputs: run them too.
      if (plan.runs[i]) rerun_rest = true;
    }
  }
  comm.broadcast(plan.runs.data(), std::int64_t(plan.runs.size()), comm::DType::u8, 0);
  return plan;
}

void print_plan(const Job& job, const Plan& plan) {
  for (std::size_t i = 0; i < job.steps.size(); ++i)
    std::cout << (plan.runs[i] ? "run   " : "skip  ") << job.steps[i].name << ": " << command_line(job.steps[i])
              << "\n";
}

// ---- record -----------------------------------------------------------------

// Peak resident memory of one step over the ranks.
struct StepMemory {
  std::int64_t peak_largest = 0;  // the largest rank's peak
  std::int64_t peak_sum = 0;      // summed over ranks
  bool per_step = true;           // false: peaks since process start (reset impossible)
};

// <out>/run.json, kept by rank 0. Written once when the run starts (steps
// that will run are "pending", so a run killed mid-step never leaves a stale
// "done" behind) and then once after each step that ran. Every write is
// atomic.
class RunRecord {
 public:
  RunRecord(const Job& job, const Plan& plan, const comm::Communicator& comm, const std::string& versions_json)
      : path_(run_json_path(job)), steps_(job.steps.size()) {
    std::error_code ec;
    fs::create_directories(job.out_dir, ec);
    if (ec) throw Error("cannot create output directory '" + job.out_dir + "': " + ec.message());
    Sha256 h;
    for (auto& s : job.steps) h.update(s.hash);
    doc_ = {{"format_version", 1},
            {"job", job.name},
            {"job_file", fs::absolute(job.path).string()},
            {"job_file_sha256", sha256_file(job.path)},
            {"config_hash", h.hex_digest()},
            {"out", job.out_dir},
            {"seed", job.seed},
            {"vars", job.vars},
            {"ranks", comm.size()},
            {"backend", comm.backend()},
            {"versions", json::parse(versions_json)},
            {"started", utc_timestamp()},
            {"steps", json::array()}};
    bool any_runs = false;
    for (std::size_t i = 0; i < job.steps.size(); ++i) {
      const auto& s = job.steps[i];
      json entry = {{"name", s.name}, {"command", s.command}, {"argv", s.argv}, {"hash", s.hash},
                    {"status", "pending"}};
      if (!plan.runs[i]) {
        // Keep the earlier record (timings, outputs) of a completed step.
        if (const json* p = previous_entry(plan.previous, s.name)) entry = *p;
        entry["status"] = "skipped";
      }
      any_runs |= plan.runs[i] != 0;
      doc_["steps"].push_back(entry);
    }
    if (!any_runs) doc_["finished"] = utc_timestamp();
    write();
  }

  void step_done(std::size_t i, const std::string& started, double seconds, const StepMemory& memory, json outputs) {
    json& e = ended(i, "done", started, seconds);
    e["peak_rss_bytes"] = memory.peak_largest;
    e["peak_rss_bytes_all_ranks"] = memory.peak_sum;
    e["peak_rss_scope"] = memory.per_step ? "step" : "process";
    e["outputs"] = std::move(outputs);
    if (i + 1 == steps_) doc_["finished"] = utc_timestamp();  // every step after a run one runs: this is the last
    write();
  }

  void step_failed(std::size_t i, const std::string& started, double seconds, const std::string& error) {
    ended(i, "failed", started, seconds)["error"] = error;
    doc_["finished"] = utc_timestamp();
    write();
  }

 private:
  json& ended(std::size_t i, const char* status, const std::string& started, double seconds) {
    json& e = doc_["steps"][i];
    e["status"] = status;
    e["started"] = started;
    e["seconds"] = seconds;
    return e;
  }

  void write() const { write_file_atomic(path_, doc_.dump(2) + "\n"); }

  std::string path_;
  std::size_t steps_;
  json doc_;
};

// ---- execute ----------------------------------------------------------------

// COLLECTIVE: every rank resets its peak before the step
// (begin_step_memory) and reports it after (end_step_memory).
bool begin_step_memory(comm::Communicator& comm) {
  std::int64_t ok = reset_peak_rss() ? 1 : 0;
  comm.all_reduce(&ok, 1, comm::DType::i64, comm::ReduceOp::min);
  return ok == 1;
}

StepMemory end_step_memory(comm::Communicator& comm, bool per_step) {
  const std::int64_t peak = peak_rss_bytes();
  return {comm.all_reduce_value(peak, comm::ReduceOp::max), comm.all_reduce_value(peak, comm::ReduceOp::sum),
          per_step};
}

json outputs_json(const JobStep& s) {
  json outs = json::array();
  for (auto& o : s.outputs) outs.push_back({{"path", o}, {"bytes", path_bytes(o)}});
  return outs;
}

// Runs one step; a non-zero exit code becomes an error of the matching kind.
void execute_step(const JobStep& s, const StepExecutor& execute) {
  const int code = execute(s.argv);
  if (code == 0) return;
  const std::string what = "exited with code " + std::to_string(code);
  if (code == 2) throw UsageError(what);
  throw Error(what);
}

// COLLECTIVE: every rank executes the steps the plan runs; `record` is
// non-null on rank 0 only.
std::vector<StepReport> execute_steps(const Job& job, const Plan& plan, const StepExecutor& execute,
                                      comm::Communicator& comm, RunRecord* record) {
  std::vector<StepReport> reports;
  for (std::size_t i = 0; i < job.steps.size(); ++i) {
    const auto& s = job.steps[i];
    const std::string tag =
        "step '" + s.name + "' (" + std::to_string(i + 1) + "/" + std::to_string(job.steps.size()) + ")";
    if (!plan.runs[i]) {
      if (record) spdlog::info("{}: outputs complete, skipped", tag);
      reports.push_back({s.name, "skipped", 0});
      continue;
    }
    if (record) spdlog::info("{}: {}", tag, command_line(s));
    const bool per_step_peak = begin_step_memory(comm);
    const std::string started = utc_timestamp();
    const auto t0 = std::chrono::steady_clock::now();
    auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    try {
      execute_step(s, execute);
    } catch (const std::exception& e) {
      if (record) record->step_failed(i, started, seconds(), describe(e));
      const auto* fathom_error = dynamic_cast<const Error*>(&e);
      std::throw_with_nested(Error("job '" + job.name + "': " + tag + " failed (" + job.path + ":" +
                                       std::to_string(s.line) + "); earlier outputs are kept in " + job.out_dir,
                                   fathom_error ? fathom_error->kind() : ErrorKind::Internal));
    }
    const double secs = seconds();
    const StepMemory memory = end_step_memory(comm, per_step_peak);
    reports.push_back({s.name, "done", secs, memory.peak_largest});
    if (record) {
      record->step_done(i, started, secs, memory, outputs_json(s));
      spdlog::info("{}: done in {:.2f}s, peak memory {:.0f} MiB per rank (largest)", tag, secs,
                   double(memory.peak_largest) / 1048576.0);
    }
  }
  return reports;
}

}  // namespace

std::vector<StepReport> run_job(const Job& job, const RunOptions& options, comm::Communicator& comm,
                                const StepExecutor& execute, const std::string& versions_json) {
  check_from_step(job, options);
  if (job.ranks > 0 && job.ranks != comm.size() && comm.is_root())
    spdlog::warn("job {} expects {} rank(s) but runs on {} (launch with: mpirun -np {} fathom run {})", job.path,
                 job.ranks, comm.size(), job.ranks, job.path);

  const Plan plan = plan_steps(job, options, comm);
  if (options.dry_run) {
    if (comm.is_root()) print_plan(job, plan);
    return {};
  }
  std::optional<RunRecord> record;
  if (comm.is_root()) record.emplace(job, plan, comm, versions_json);
  return execute_steps(job, plan, execute, comm, record ? &*record : nullptr);
}

}  // namespace fathom::cli
