// `fathom influence`: options -> attrib::influence (influence.h).
#include <iostream>

#include "command.h"
#include "corpus_options.h"
#include "show_explanations.h"
#include "solver_options.h"
#include "fathom/attrib/influence.h"

namespace fathom::cli {

Registered register_influence(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<attrib::InfluenceOptions>();
  auto show = std::make_shared<std::int64_t>(0);
  auto* sub = app.add_subcommand(
      "influence", "Influence functions (Koh & Liang 2017): which training examples raised or lowered each query's "
                   "loss; LiSSA, CG, exact, Arnoldi or EK-FAC inverse HVPs; FastIF candidate restriction");
  sub->add_option("--model", o->model_dir, "model bundle directory")->required();
  sub->add_option("--cache", o->cache, "gradient cache of the training corpus (`fathom cache --target gold`)")
      ->required();
  sub->add_option("--queries", o->queries, "query corpus (jsonl/tsv/csv)")->required();
  sub->add_option("--out", o->out, "output (JSONL), with <out>.meta.json beside it")->required();
  auto* corpus = sub->add_option("--corpus", o->corpus,
                                 "training corpus the cache was built from (default: the path the cache records); "
                                 "given explicitly, entries also get their texts");
  add_solver_flags(*sub, o->solver);
  sub->add_option("--candidates", o->candidates,
                  "all | knn:K — FastIF: score only each query's K nearest training rows (needs --index)")
      ->capture_default_str();
  sub->add_option("--index", o->index, "features index of the cache (`fathom index --field features`) for knn:K");
  sub->add_option("--recall-queries", o->recall_queries,
                  "FastIF: queries re-scored by a full scan to measure the recall of the restricted lists")
      ->capture_default_str();
  sub->add_option("--top", o->top, "proponents and opponents per query")->capture_default_str();
  sub->add_option("--target", o->target, "loss of the query at: predicted | gold | <label>")->capture_default_str();
  sub->add_option("--scores-out", o->scores_out, "also write the full query x train score matrix (HDF5)");
  sub->add_option("--dtype", o->dtype, "model dtype for gradients and HVPs: float64 | float32")
      ->capture_default_str();
  sub->add_option("--query-batch", o->query_batch, "queries solved and scored together")->capture_default_str();
  sub->add_option("--hessian-batch", o->hessian_batch, "training rows per double backward")->capture_default_str();
  sub->add_option("--snippet", o->snippet_chars, "characters of training text kept (0 = all)")->capture_default_str();
  sub->add_option("--show", *show, "print the first N queries with their proponents and opponents")
      ->capture_default_str();
  add_corpus_flags(*sub, o->query_options);
  sub->footer(
      "Sign convention: score(z_i, z_test) = grad L(z_test)^T (H + damping I)^-1 grad L(z_i) / n,\n"
      "the predicted INCREASE of the test loss if z_i were removed from training.\n"
      "Positive = proponent (supports the prediction), negative = opponent.\n"
      "H: mean Hessian of the training cross-entropy (gold labels) on the cache's parameters,\n"
      "by double-backward HVPs on mini-batches of --corpus, split over ranks.\n"
      "Output: one line per query, in input order:\n"
      "  {\"id\", \"prediction\", \"target\", \"loss\",\n"
      "   \"proponents\": [{\"id\", \"label\", \"score\", \"text\" (with --corpus)}] (descending score),\n"
      "   \"opponents\": [...] (ascending score)}\n"
      "<out>.meta.json: the sign convention, solver settings and what it measured (lambda_max,\n"
      "scale, iterations), parameter list, projection, FastIF recall, timings.\n"
      "Corpus flags (--format, --id-field, ...) apply to --queries and --corpus.");
  return {sub, [o, show, corpus, &ctx] {
            o->threads = ctx.threads;
            o->corpus_options = training_corpus_options(o->query_options);
            o->texts = corpus->count() > 0;
            auto& comm = ctx.comm();
            attrib::InfluenceResult r = attrib::influence(*o, comm);
            if (comm.is_root()) {
              std::cout << "influence: " << r.queries << " queries x " << r.rows << " training rows (P = " << r.dim
                        << ", stored " << r.stored_dim << "), solver " << o->solver.solver << ": solve "
                        << r.solve_seconds << " s, scoring " << r.score_seconds << " s";
              if (r.recall_proponents)
                std::cout << "; FastIF recall@" << o->top << " proponents " << *r.recall_proponents << ", opponents "
                          << *r.recall_opponents;
              std::cout << "; written to " << o->out << "\n";
              show_explanations(std::cout, o->out, o->queries, o->query_options, *show);
            }
            return 0;
          }};
}

}  // namespace fathom::cli
