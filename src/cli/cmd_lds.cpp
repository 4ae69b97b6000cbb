// `fathom lds`: the linear datamodeling score of a score matrix, by
// retraining on random subsets (and leave-one-out with --loo).
#include <iostream>

#include "command.h"
#include "corpus_options.h"
#include "fathom/attrib/lds.h"

namespace fathom::cli {

Registered register_lds(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<attrib::LdsOptions>();  // outlives parsing: the callback holds it
  auto lambda = std::make_shared<double>(0.0);
  auto no_resume = std::make_shared<bool>(false);
  auto* sub = app.add_subcommand("lds", "Linear datamodeling score of an attribution score matrix (retraining on "
                                        "random subsets; leave-one-out with --loo)");
  sub->add_option("--model", o->model_dir, "model bundle the scores explain")->required();
  sub->add_option("--corpus", o->corpus, "training corpus (holds every train id of the score matrix)")->required();
  sub->add_option("--queries", o->queries, "query corpus (holds every query id of the score matrix)")->required();
  sub->add_option("--scores", o->scores, "score matrix (`fathom influence --scores-out`)")->required();
  sub->add_option("--out", o->out, "output lds.json; finished retrainings are kept in <out>.work/")->required();
  sub->add_option("--subsets", o->subsets, "random training subsets M")->capture_default_str();
  sub->add_option("--fraction", o->fraction, "share of the training rows in each subset")->capture_default_str();
  sub->add_option("--retrain", o->retrain, "head (last layer on frozen features) | full (whole built-in model)")
      ->capture_default_str();
  sub->add_option("--measure", o->measure, "loss (compare with -loss) | margin")->capture_default_str();
  sub->add_option("--target", o->target, "label of the query's loss: predicted (by the model) | gold")
      ->capture_default_str();
  sub->add_option("--seed", o->seed, "seed of the subsets and the bootstrap")->capture_default_str();
  sub->add_option("--loo", o->loo, "leave-one-out check: retrain without each query's top-K proponents and opponents")
      ->capture_default_str();
  auto* lambda_option = sub->add_option("--lambda", *lambda,
                                        "head: lambda of lambda*||W||^2 (default: the training --l2-last, else 1e-3)");
  sub->add_option("--tolerance", o->tolerance, "head fits on subsets: gradient norm to reach")->capture_default_str();
  sub->add_option("--loo-tolerance", o->loo_tolerance, "leave-one-out head fits: gradient norm to reach")
      ->capture_default_str();
  sub->add_option("--max-iterations", o->max_iterations, "L-BFGS iterations per head fit")->capture_default_str();
  sub->add_option("--bootstrap", o->bootstrap, "bootstrap resamples of the 95% interval")->capture_default_str();
  sub->add_option("--batch", o->batch, "forward batch for features")->capture_default_str();
  sub->add_flag("--no-resume", *no_resume, "discard the finished retrainings in <out>.work/");
  add_corpus_flags(*sub, o->query_options);
  sub->footer(
      "LDS (Park et al. 2023; dattri, Kronfluence): M subsets S_m of --fraction of the training rows\n"
      "(seeded), a retraining on each, and for each query t the actual value f_t(S_m) (-loss or margin\n"
      "of the target label) against the prediction g_t(S_m) = sum over i in S_m of score(i, t).\n"
      "fathom's score is the predicted INCREASE of the query's loss when i is removed, so a subset rich in\n"
      "proponents should give a lower loss: LDS_t = Spearman(f_t, g_t) > 0 is right. LDS = mean over queries,\n"
      "with a percentile bootstrap 95% interval over queries.\n"
      "--retrain head: the last layer, (1/|S|) sum CE(W f_i + b, y_i) + lambda ||W||^2 on frozen features,\n"
      "L-BFGS to --tolerance; full: the built-in model retrained with its checkpoint's recipe.\n"
      "--loo K: Pearson between score(i, t) and the actual loss change L_t(without i) - L_t(with i)\n"
      "(head retraining) over each query's top-K proponents and opponents (Koh & Liang, Fig. 2).\n"
      "Retrainings are dealt to the ranks; the result does not depend on the rank count. A rerun with the\n"
      "same settings skips the retrainings kept in <out>.work/ (--measure may change).\n"
      "Output <out>: {format \"fathom-lds\", settings, lds {mean, ci95, queries, defined},\n"
      "  per_query [{id, target, spearman, full_value, actual [M]}], loo {...}, fits, timings, ranks}.\n"
      "Corpus flags (--format, --id-field, ...) apply to --queries and --corpus.");
  return {sub, [o, lambda, lambda_option, no_resume, &ctx] {
            o->threads = ctx.threads;
            o->corpus_options = training_corpus_options(o->query_options);
            if (lambda_option->count() > 0) o->lambda = *lambda;
            o->resume = !*no_resume;
            auto& comm = ctx.comm();
            const attrib::LdsResult r = attrib::lds(*o, comm);
            if (comm.is_root()) {
              std::cout << "lds: LDS " << (r.lds.mean ? std::to_string(*r.lds.mean) : std::string("n/a"));
              if (r.lds.mean) std::cout << " [" << r.lds.interval.low << ", " << r.lds.interval.high << "]";
              std::cout << " over " << r.lds.defined << " of " << r.queries << " queries; " << o->subsets
                        << " subsets of " << r.subset_size << " of " << r.train_rows << " rows (" << o->retrain
                        << " retraining, " << r.resumed_subsets << " resumed)";
              if (o->loo > 0)
                std::cout << "; leave-one-out Pearson "
                          << (r.loo_pearson ? std::to_string(*r.loo_pearson) : std::string("n/a")) << " over "
                          << r.loo_pairs << " pairs (" << r.loo_fits << " fits)";
              std::cout << "; written to " << o->out << "\n";
            }
            return 0;
          }};
}

}  // namespace fathom::cli
