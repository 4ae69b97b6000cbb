#include "fathom/cli/app.h"

#include <cstdlib>
#include <iostream>

#include "command.h"
#include "fathom/comm/failure.h"
#include "fathom/core/error.h"
#include "fathom/core/log.h"

namespace fathom::cli {

comm::Communicator& Context::comm() {
  if (!comm_) {
    comm_ = comm::make_communicator(backend);
    log::init(comm_->rank(), comm_->size(), log_level);
  }
  return *comm_;
}

namespace {

void add_global_options(CLI::App& app, Context& ctx) {
  app.add_option("--log-level", ctx.log_level, "trace|debug|info|warn|error|off")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.add_option("--backend", ctx.backend,
                 "communicator: auto (mpi under mpirun/srun, else local) | mpi | local | nccl")
      ->capture_default_str();
  app.add_option("--threads", ctx.threads, "torch threads per rank (0 = cores / ranks on this node)")
      ->capture_default_str();
}

}  // namespace

int dispatch(const std::vector<std::string>& args, Context& ctx) {
  CLI::App app{"fathom: explain NLP models at corpus scale (influence, representer points, kNN, "
               "triggers, saliency, audits)",
               "fathom"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every subcommand");
  app.footer("Exit codes: 0 success, 2 usage or input error, 1 other failure.\n"
             "Run under MPI with: mpirun -np N fathom <subcommand> ... (see README).");
  if (!ctx.inside_job) add_global_options(app, ctx);

  std::vector<Registered> commands = {
      register_version(app, ctx), register_doctor(app, ctx), register_synth(app, ctx),
      register_stats(app, ctx),   register_run(app, ctx),    register_train(app, ctx),
      register_predict(app, ctx), register_cache(app, ctx),   register_inspect(app, ctx),
  };
  for (auto& r : register_reserved(app, ctx)) commands.push_back(std::move(r));

  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 consumes from the back
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);  // prints help or the error
    return code == 0 ? 0 : 2;
  }
  for (auto& c : commands) {
    if (c.sub->parsed()) return c.run();
  }
  throw UsageError("no subcommand given (see fathom --help)");
}

int main(int argc, char** argv) {
  Context ctx;
  log::init(-1, 0);
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    return dispatch(args, ctx);
  } catch (const std::exception& e) {
    // One failure policy: log with the rank, then abort every rank (MPI) so
    // nobody waits forever in a collective.
    comm::fail_job(e, ctx.comm_if_created());
  } catch (...) {
    comm::fail_job(Error("unknown exception"), ctx.comm_if_created());
  }
}

}  // namespace fathom::cli
