#include <filesystem>
#include <iostream>

#include "command.h"
#include "fathom/cli/job.h"
#include "fathom/core/error.h"

namespace fathom::cli {

Registered register_run(CLI::App& app, Context& ctx) {
  struct Opts {
    std::string job, out, from;
    std::vector<std::string> sets;
    bool force = false, dry_run = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("run", "Run a job file (TOML): named steps in order, resuming completed ones");
  sub->add_option("job", o->job, "job file (.toml)")->required();
  sub->add_option("--out", o->out, "override [job].out (the output directory)");
  sub->add_flag("--force", o->force, "re-run every step even if its outputs are complete");
  sub->add_option("--from", o->from, "re-run from this step on (earlier complete steps are skipped)");
  sub->add_flag("--dry-run", o->dry_run, "print which steps would run or be skipped");
  sub->add_option("--set", o->sets, "name=value: replace a [job.vars] value (repeatable), e.g. --set n=100000")
      ->allow_extra_args(false);
  sub->footer("Writes <out>/run.json: config hash, versions, per-step argv, status, timings, peak memory and outputs.\n"
              "Re-running skips steps whose recorded outputs are complete and whose arguments did not change.");
  return {sub, [o, &ctx, sub]() -> int {
            if (ctx.inside_job) throw UsageError("'fathom run' cannot be a step of a job");
            std::vector<std::string> commands;
            for (auto* s : sub->get_parent()->get_subcommands([](CLI::App*) { return true; }))
              commands.push_back(s->get_name());
            Job job = load_job(o->job, o->out, commands, o->sets);
            auto& c = ctx.comm();
            RunOptions ro{o->force, o->from, o->dry_run};
            ctx.inside_job = true;
            auto reports = run_job(job, ro, c, [&ctx](const std::vector<std::string>& argv) {
              return dispatch(argv, ctx);
            }, version_json(version_info()).dump());
            ctx.inside_job = false;
            if (c.is_root() && !o->dry_run) {
              std::cout << "job '" << job.name << "' complete; outputs in " << std::filesystem::absolute(job.out_dir).string()
                        << "\n";
              for (std::size_t i = 0; i < reports.size(); ++i) {
                std::cout << "  " << reports[i].name << ": " << reports[i].status;
                if (reports[i].status == "done")
                  std::cout << " (" << reports[i].seconds << " s, peak "
                            << (reports[i].peak_rss_bytes + (1 << 19)) / (1 << 20) << " MiB)";
                for (auto& out : job.steps[i].outputs) std::cout << "  -> " << out;
                std::cout << "\n";
              }
              std::cout << "  run record: " << (std::filesystem::path(job.out_dir) / "run.json").string() << "\n";
            }
            return 0;
          }};
}

}  // namespace fathom::cli
