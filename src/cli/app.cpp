#include "fathom/cli/app.h"

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
  app.footer("Exit codes: 0 success, 1 failure, 2 usage or input error, 3 collective timeout (a rank waited\n"
             "longer than FATHOM_COLLECTIVE_TIMEOUT seconds in a collective; every rank is aborted).\n"
             "Run under MPI with: mpirun -np N fathom <subcommand> ... (see README).");
  if (!ctx.inside_job) add_global_options(app, ctx);

  std::vector<Registered> commands = {
      register_version(app, ctx), register_doctor(app, ctx), register_synth(app, ctx),
      register_stats(app, ctx),   register_run(app, ctx),    register_train(app, ctx),
      register_predict(app, ctx), register_cache(app, ctx),   register_inspect(app, ctx),
      register_index(app, ctx),
      register_representer(app, ctx),
      register_knn(app, ctx),
      register_influence(app, ctx),
      register_self_influence(app, ctx),
      register_lds(app, ctx),
      register_triggers(app, ctx),
      register_hotflip(app, ctx),
      register_reduce(app, ctx),
      register_saliency(app, ctx),
      register_serve(app, ctx),
      register_audit(app, ctx),
  };

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
  const std::vector<std::string> args(argv + 1, argv + argc);
  // The one failure path (the tests use it too). The communicator exists only
  // once a command asked for it, so it is looked up when a failure happens.
  return comm::run_guarded([&ctx] { return ctx.comm_if_created(); }, [&] { return dispatch(args, ctx); });
}

}  // namespace fathom::cli
