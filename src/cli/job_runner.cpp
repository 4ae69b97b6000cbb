// `fathom run`: executes a job's steps in order, skipping completed ones.
#include <chrono>
#include <ctime>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "fathom/cli/job.h"
#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"
#include "fathom/core/hash.h"
#include "fathom/core/log.h"

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

std::string now_iso() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

json outputs_json(const JobStep& s) {
  json outs = json::array();
  for (auto& o : s.outputs) outs.push_back({{"path", o}, {"bytes", path_bytes(o)}});
  return outs;
}

// A step is complete if run.json recorded it done with the same hash and
// every recorded output still exists with the recorded size.
bool step_complete(const json& previous, const JobStep& s) {
  if (!previous.contains("steps")) return false;
  for (auto& p : previous["steps"]) {
    if (p.value("name", "") != s.name) continue;
    if (p.value("status", "") != "done" || p.value("hash", "") != s.hash) return false;
    if (!p.contains("outputs")) return true;
    for (auto& o : p["outputs"]) {
      std::int64_t now = path_bytes(o.value("path", ""));
      if (now < 0 || now != o.value("bytes", std::int64_t(-2))) return false;
    }
    return true;
  }
  return false;
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

}  // namespace

std::vector<StepReport> run_job(const Job& job, const RunOptions& options, comm::Communicator& comm,
                                const StepExecutor& execute, const std::string& versions_json) {
  const bool root = comm.is_root();
  const std::string run_json_path = (fs::path(job.out_dir) / "run.json").string();
  if (!options.from.empty()) {
    bool found = false;
    for (auto& s : job.steps) found |= s.name == options.from;
    if (!found) {
      std::string names;
      for (auto& s : job.steps) names += (names.empty() ? "" : ", ") + s.name;
      throw UsageError("--from '" + options.from + "': no such step in " + job.path + " (steps: " + names + ")");
    }
  }
  if (job.ranks > 0 && job.ranks != comm.size() && root)
    spdlog::warn("job {} expects {} rank(s) but runs on {} (launch with: mpirun -np {} fathom run {})", job.path,
                 job.ranks, comm.size(), job.ranks, job.path);

  // Rank 0 decides which steps run; everyone follows the same plan.
  std::vector<std::uint8_t> run_step(job.steps.size(), 1);
  json doc;
  if (root) {
    std::error_code ec;
    fs::create_directories(job.out_dir, ec);
    if (ec) throw Error("cannot create output directory '" + job.out_dir + "': " + ec.message());
    json previous = load_previous(run_json_path);
    bool rerun_rest = options.force;
    for (std::size_t i = 0; i < job.steps.size(); ++i) {
      if (job.steps[i].name == options.from) rerun_rest = true;
      run_step[i] = rerun_rest || !step_complete(previous, job.steps[i]);
      // Once a step runs, later steps may read changed inputs: run them too.
      if (run_step[i]) rerun_rest = true;
    }
    Sha256 h;
    for (auto& s : job.steps) h.update(s.hash);
    doc = {{"format_version", 1},
           {"job", job.name},
           {"job_file", fs::absolute(job.path).string()},
           {"job_file_sha256", sha256_file(job.path)},
           {"config_hash", h.hex_digest()},
           {"out", job.out_dir},
           {"seed", job.seed},
           {"ranks", comm.size()},
           {"backend", comm.backend()},
           {"versions", json::parse(versions_json)},
           {"started", now_iso()},
           {"steps", json::array()}};
    for (std::size_t i = 0; i < job.steps.size(); ++i) {
      const auto& s = job.steps[i];
      json entry = {{"name", s.name}, {"command", s.command}, {"argv", s.argv}, {"hash", s.hash},
                    {"status", "pending"}};
      if (!run_step[i]) {
        // Keep the earlier record (timings, outputs) of a completed step.
        for (auto& p : previous["steps"])
          if (p.value("name", "") == s.name) entry = p;
        entry["status"] = "done";
      }
      doc["steps"].push_back(entry);
    }
  }
  comm.broadcast(run_step.data(), std::int64_t(run_step.size()), comm::DType::u8, 0);

  if (options.dry_run) {
    if (root)
      for (std::size_t i = 0; i < job.steps.size(); ++i)
        std::cout << (run_step[i] ? "run   " : "skip  ") << job.steps[i].name << ": fathom "
                  << [&] { std::string a; for (auto& x : job.steps[i].argv) a += x + " "; return a; }() << "\n";
    return {};
  }

  std::vector<StepReport> reports;
  for (std::size_t i = 0; i < job.steps.size(); ++i) {
    const auto& s = job.steps[i];
    std::string tag = "step '" + s.name + "' (" + std::to_string(i + 1) + "/" + std::to_string(job.steps.size()) + ")";
    if (!run_step[i]) {
      if (root) spdlog::info("{}: outputs complete, skipped", tag);
      reports.push_back({s.name, "skipped", 0});
      continue;
    }
    if (root) spdlog::info("{}: fathom {}", tag, [&] { std::string a; for (auto& x : s.argv) a += x + " "; return a; }());
    auto t0 = std::chrono::steady_clock::now();
    if (root) {
      doc["steps"][i]["status"] = "running";
      doc["steps"][i]["started"] = now_iso();
      write_file_atomic(run_json_path, doc.dump(2) + "\n");
    }
    int code = 0;
    try {
      code = execute(s.argv);
      if (code != 0) throw UsageError("exited with code " + std::to_string(code));
    } catch (const std::exception& e) {
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (root) {
        doc["steps"][i]["status"] = "failed";
        doc["steps"][i]["seconds"] = secs;
        doc["steps"][i]["error"] = describe(e);
        doc["finished"] = now_iso();
        write_file_atomic(run_json_path, doc.dump(2) + "\n");
      }
      std::throw_with_nested(Error("job '" + job.name + "': " + tag + " failed (" + job.path + ":" +
                                       std::to_string(s.line) + "); earlier outputs are kept in " + job.out_dir,
                                   dynamic_cast<const Error*>(&e) ? dynamic_cast<const Error*>(&e)->kind()
                                                                  : ErrorKind::Internal));
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    reports.push_back({s.name, "done", secs});
    if (root) {
      doc["steps"][i]["status"] = "done";
      doc["steps"][i]["seconds"] = secs;
      doc["steps"][i]["outputs"] = outputs_json(s);
      write_file_atomic(run_json_path, doc.dump(2) + "\n");
      spdlog::info("{}: done in {:.2f}s", tag, secs);
    }
  }
  if (root) {
    doc["finished"] = now_iso();
    write_file_atomic(run_json_path, doc.dump(2) + "\n");
  }
  return reports;
}

}  // namespace fathom::cli
