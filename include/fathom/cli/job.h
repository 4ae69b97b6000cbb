#pragma once
// Job files (TOML) and the runner behind `fathom run`.
//
// Format (README "Job files"):
//   [job]
//   name = "demo"
//   out = "out/demo"        # output directory (relative to the working dir)
//   seed = 1                # available to steps as {seed}
//   ranks = 1               # expected number of ranks (a warning if it differs)
//   [[step]]
//   name = "synth"          # unique; --from uses it
//   command = "synth"       # a fathom subcommand
//   outputs = ["{out}/data/truth.json"]   # optional; default: the step's `out` arg
//   [step.args]             # options of the subcommand, without "--"
//   task = "sentiment"      # strings: {out} {seed} {job_dir} are substituted
//   n = 2000                # numbers as written; true -> bare flag; false -> omitted
// A step's identity hash covers its command, its arguments and the hashes of
// the steps before it, so changing one step re-runs it and everything after.
#include <cstdint>
#include <functional>
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
  std::vector<JobStep> steps;
};

// Parses and validates a job file. Throws InputError naming the file, line
// and field (unknown command, duplicate step name, wrong value type, missing
// [job] or steps, TOML syntax errors with their position).
// out_override (if non-empty) replaces [job].out.
Job load_job(const std::string& path, const std::string& out_override = "",
             const std::vector<std::string>& known_commands = {});

struct RunOptions {
  bool force = false;       // re-run every step
  std::string from;         // re-run from this step on (must exist)
  bool dry_run = false;     // print the plan only
};

struct StepReport {
  std::string name, status;  // done | skipped
  double seconds = 0;        // 0 for a skipped step
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
//    record), then once after each step that ran ("done" with seconds and
//    outputs {path, bytes}, or "failed" with the error).
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
