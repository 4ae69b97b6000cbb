#include <iostream>

#include "command.h"
#include "corpus_options.h"
#include "show_explanations.h"
#include "fathom/attrib/representer.h"

namespace fathom::cli {

Registered register_representer(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<attrib::RepresenterOptions>();  // outlives parsing: the callback holds it
  auto lambda = std::make_shared<double>(0.0);
  auto show = std::make_shared<std::int64_t>(0);
  auto* sub = app.add_subcommand("representer", "Representer points (Yeh et al. 2018): training examples that "
                                                "excite or inhibit each query's prediction");
  sub->add_option("--model", o->model_dir, "model bundle directory")->required();
  sub->add_option("--cache", o->cache, "gradient cache of the training corpus built from the model (`fathom cache`)")
      ->required();
  sub->add_option("--queries", o->queries, "query corpus (jsonl/tsv/csv); labels are ignored")->required();
  sub->add_option("--out", o->out, "output (JSONL), with <out>.meta.json, <out>.alpha.h5, <out>.head.json beside it")
      ->required();
  auto* lambda_option = sub->add_option("--lambda", *lambda,
                                        "L2 penalty λ of λ‖W‖² on the last layer (default: the model's training "
                                        "--l2-last, else 1e-3)");
  sub->add_option("--top", o->top, "training examples per list")->capture_default_str();
  sub->add_option("--tolerance", o->tolerance, "head fit: stop when the gradient norm is <= this")
      ->capture_default_str();
  sub->add_option("--max-iterations", o->max_iterations, "head fit: L-BFGS iterations at most")
      ->capture_default_str();
  sub->add_option("--batch", o->batch, "query forward batch")->capture_default_str();
  sub->add_option("--corpus", o->corpus,
                  "training corpus the cache was built from (record i = cache row i, same ids): adds texts");
  sub->add_option("--snippet", o->snippet_chars, "characters of training text kept (0 = all)")->capture_default_str();
  sub->add_option("--show", *show, "print the first N queries with their representer points")->capture_default_str();
  add_corpus_flags(*sub, o->query_options);
  sub->footer(
      "Representer theorem: with the last layer W at a stationary point of\n"
      "  (1/n) sum_i CE(W f_i + b, y_i) + lambda ||W||^2,  W = sum_i alpha_i f_i^T,\n"
      "  alpha_i = (e_{y_i} - p_i) / (2 lambda n),  logits(t) = sum_i alpha_i f_i^T f_t + b.\n"
      "If the model's head is not stationary (gradient norm > --tolerance) it is first refitted\n"
      "on the cached features (L-BFGS, float64, distributed) and saved as <out>.head.json.\n"
      "Output: one line per query, in input order:\n"
      "  {\"id\", \"prediction\", \"excitatory\": [{\"id\", \"label\", \"value\", \"text\" (with --corpus)}],\n"
      "   \"inhibitory\": [...]}\n"
      "  value = alpha_ic f_i^T f_t for the predicted class c (largest / most negative first).\n"
      "<out>.meta.json: lambda, the fit's gradient norms and iterations, and how well\n"
      "sum_i alpha_i f_i^T f_t + b reproduces the logits of the queries (Pearson, max abs error).\n"
      "<out>.alpha.h5: alpha [N, C] as /representer_alpha (with /ids and the lambda attribute).\n"
      "Corpus flags (--format, --id-field, ...) apply to --queries and --corpus.");
  return {sub, [o, lambda, lambda_option, show, &ctx] {
            o->threads = ctx.threads;
            o->corpus_options = training_corpus_options(o->query_options);
            if (lambda_option->count() > 0) o->lambda = *lambda;
            auto& comm = ctx.comm();
            attrib::RepresenterResult r = attrib::representer(*o, comm);
            if (comm.is_root()) {
              std::cout << "representer: " << r.queries << " queries, lambda " << r.lambda << " ("
                        << r.lambda_source << "); head "
                        << (r.fitted ? "fitted (" + std::to_string(r.iterations) + " iterations)" : "stationary")
                        << ", gradient norm " << r.gradient_norm_after << "; logits reproduced with Pearson "
                        << (r.pearson ? std::to_string(*r.pearson) : std::string("n/a")) << ", max abs error "
                        << r.max_abs_error << "; written to " << o->out << "\n";
              show_explanations(std::cout, o->out, o->queries, o->query_options, *show);
            }
            return 0;
          }};
}

}  // namespace fathom::cli
