#pragma once
// Job files (TOML) and the runner behind `fathom run`.
//
// Format (README "Job files"):
//   [job]
//   name = "demo"
//   out = "out/demo"        # output directory (relative to the working dir)
//   seed = 1                # available to steps as {seed}
//   ranks = 1               # expected number of ranks (a warning if it differs)
//   [job.vars]              # optional: named values, substituted as {name}
//   n = 1000000             #   (`fathom run --set n=10000` overrides one)
//   [[step]]
//   name = "synth"          # unique; --from uses it
//   command = "synth"       # a fathom subcommand
//   outputs = ["{out}/data/truth.json"]   # optional; default: the step's `out` arg
//   [step.args]             # options of the subcommand, without "--"
//   task = "sentiment"      # strings: {out} {seed} {job_dir} and {<var>} are substituted
//   n = 2000                # numbers as written; true -> bare flag; false -> omitted
// A step's identity hash covers its command, its arguments and the hashes of
// the steps before it, so changing one step re-runs it and everything after.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "fathom/comm/communicator.h"

namespace fathom::cli {

struct JobStep {
  std::string name;
  std::string command;
  std::vector<std::string> argv;     // ["<command>", "--key", "value", ...] after substitution
  std::vector<std::string> outputs;  // files or directories that prove the step completed
  std::int64_t line = 0;             // line of the [[step]] header in the job file
  std::string hash;                  // sha256 of command + argv + previous step's hash
};

struct Job {
  std::string path;
  std::string name;
  std::string out_dir;
  std::uint64_t seed = 1;
  int ranks = 0;  // 0 = any
  std::map<std::string, std::string> vars;  // [job.vars] after --set overrides
  std::vector<JobStep> steps;
};

// Parses and validates a job file. Throws InputError naming the file, line
// and field (unknown command, duplicate step name, wrong value type, missing
// [job] or steps, TOML syntax errors with their position).
// out_override (if non-empty) replaces [job].out. Each of `sets` is
// "name=value" and replaces [job.vars].name, which must exist (UsageError
// otherwise, listing the variables); {out} {seed} {job_dir} cannot be set.
Job load_job(const std::string& path, const std::string& out_override = "",
             const std::vector<std::string>& known_commands = {}, const std::vector<std::string>& sets = {});

struct RunOptions {
  bool force = false;       // re-run every step
  std::string from;         // re-run from this step on (must exist)
  bool dry_run = false;     // print the plan only
};

struct StepReport {
  std::string name, status;         // done | skipped
  double seconds = 0;               // 0 for a skipped step
  std::int64_t peak_rss_bytes = 0;  // largest over ranks during the step (0: skipped or unknown)
};

// Executes one step in-process: argv as for the fathom command line.
using StepExecutor = std::function<int(const std::vector<std::string>& argv)>;

// COLLECTIVE over `comm`, in three steps:
//  * plan: rank 0 reads the earlier <out>/run.json and decides which steps
//    run (a step whose hash is unchanged and whose recorded outputs exist
//    with their recorded sizes is skipped; once one step runs, every later
//    step runs too); every rank follows that plan.
//  * record: rank 0 alone writes <out>/run.json, atomically: once with the
//    plan (steps to run "pending", the others "skipped" with their earlier
//    record), then once after each step that ran ("done" with seconds,
//    peak_rss_bytes (largest rank), peak_rss_bytes_all_ranks (sum: the
//    node's share when ranks share a node) and outputs {path, bytes}, or
//    "failed" with the error). A step's peak is measured from its start
//    (fathom::reset_peak_rss); where that reset is impossible it is the
//    process's peak so far, and the record says so (peak_rss_scope).
//  * execute: every rank executes every planned step (steps are collective
//    themselves).
// A failing step leaves earlier outputs and run.json entries intact and is
// rethrown with the step name, job file and line as context. With dry_run,
// rank 0 prints the plan and nothing is written.
std::vector<StepReport> run_job(const Job& job, const RunOptions& options, comm::Communicator& comm,
                                const StepExecutor& execute, const std::string& versions_json = "{}");

// Bytes under a file or directory; -1 if it does not exist.
std::int64_t path_bytes(const std::string& path);

}  // namespace fathom::cli
