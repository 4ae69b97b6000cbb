#pragma once
// Private to the cli module: how subcommands plug into the app.
//
// Each cmd_*.cpp defines one register_* function. It adds its subcommand to
// `app`, binds options to a struct it owns (kept alive by the returned
// closure) and returns the closure that runs the command once parsing
// succeeded. Commands are thin: options -> one library call -> outputs.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fathom/comm/communicator.h"

namespace fathom::cli {

// Shared by all subcommands of one process (and by every step of a job).
class Context {
 public:
  std::string backend = "auto";
  int threads = 0;
  std::string log_level = "info";
  bool inside_job = false;  // set while `fathom run` executes steps

  // Created on first use, so `fathom version` never initialises MPI.
  comm::Communicator& comm();
  comm::Communicator* comm_if_created() { return comm_.get(); }

 private:
  std::unique_ptr<comm::Communicator> comm_;
};

using Runner = std::function<int()>;

struct Registered {
  CLI::App* sub;
  Runner run;
};

Registered register_version(CLI::App& app, Context& ctx);
Registered register_doctor(CLI::App& app, Context& ctx);
Registered register_synth(CLI::App& app, Context& ctx);
Registered register_stats(CLI::App& app, Context& ctx);
Registered register_run(CLI::App& app, Context& ctx);
Registered register_train(CLI::App& app, Context& ctx);
Registered register_predict(CLI::App& app, Context& ctx);
Registered register_cache(CLI::App& app, Context& ctx);
Registered register_inspect(CLI::App& app, Context& ctx);
Registered register_index(CLI::App& app, Context& ctx);
Registered register_representer(CLI::App& app, Context& ctx);
Registered register_knn(CLI::App& app, Context& ctx);
Registered register_influence(CLI::App& app, Context& ctx);       // cmd_influence.cpp
Registered register_self_influence(CLI::App& app, Context& ctx);  // cmd_self_influence.cpp
Registered register_lds(CLI::App& app, Context& ctx);             // cmd_lds.cpp
Registered register_triggers(CLI::App& app, Context& ctx);        // cmd_triggers.cpp
Registered register_hotflip(CLI::App& app, Context& ctx);         // cmd_hotflip.cpp
Registered register_reduce(CLI::App& app, Context& ctx);          // cmd_reduce.cpp
Registered register_saliency(CLI::App& app, Context& ctx);        // cmd_saliency.cpp
Registered register_serve(CLI::App& app, Context& ctx);           // cmd_serve.cpp
Registered register_audit(CLI::App& app, Context& ctx);           // cmd_audit.cpp

// Parses `args` (without the program name) with a fresh app and runs the
// selected subcommand. Throws on failure; returns the exit code otherwise
// (0, or 2 for a usage error reported by CLI11).
int dispatch(const std::vector<std::string>& args, Context& ctx);

// Versions of fathom and every library it is built with (for `version`,
// run.json and file attributes). FAISS's comes from the index module, the
// one that links it.
struct VersionInfo {
  std::string fathom, torch, faiss, hdf5, mpi, nccl, compiler, build_type;
  bool torch_cuda = false;
  std::vector<std::string> backends;
};
VersionInfo version_info();
// The same as one JSON object (`version --json`, run.json "versions").
nlohmann::json version_json(const VersionInfo& v);

}  // namespace fathom::cli
