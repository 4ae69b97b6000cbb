// `fathom self-influence`: options -> attrib::self_influence (self_influence.h).
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "command.h"
#include "corpus_options.h"
#include "solver_options.h"
#include "fathom/attrib/self_influence.h"

namespace fathom::cli {
namespace {

// The first n lines of the ranking, for the terminal.
void show_top(std::ostream& os, const std::string& path, std::int64_t n) {
  std::ifstream in(path);
  std::string line;
  for (std::int64_t i = 0; i < n && std::getline(in, line); ++i) {
    const auto j = nlohmann::json::parse(line);
    os << "  #" << j.at("rank") << " " << j.at("id").get<std::string>() << " [" << j.at("label").get<std::string>()
       << "] " << j.at("score");
    if (j.contains("text")) os << "  " << j.at("text").get<std::string>();
    os << "\n";
  }
}

}  // namespace

Registered register_self_influence(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<attrib::SelfInfluenceOptions>();
  auto show = std::make_shared<std::int64_t>(0);
  auto no_resume = std::make_shared<bool>(false);
  auto* sub = app.add_subcommand(
      "self-influence", "Rank every training example by self-influence grad L(z)^T (H + damping I)^-1 grad L(z) "
                        "(any inverse-HVP solver) or by TracIn over the training checkpoints, to surface "
                        "mislabeled examples; --tracin also scores queries for `fathom lds`");
  sub->add_option("--model", o->model_dir, "model bundle directory")->required();
  sub->add_option("--cache", o->cache, "gradient cache of the training corpus (its parameter list and rows are used)")
      ->required();
  sub->add_option("--out", o->out, "output (JSONL), with <out>.meta.json beside it")->required();
  auto* corpus = sub->add_option("--corpus", o->corpus,
                                 "training corpus the cache was built from (default: the path the cache records); "
                                 "given explicitly, lines also get their texts");
  add_solver_flags(*sub, o->solver);
  sub->add_flag("--tracin", o->tracin,
                "TracIn (Pruthi et al. 2020) over <model>/checkpoints instead of a solver: sum_k lr_k ||grad L||^2");
  sub->add_option("--queries", o->queries, "--tracin: query corpus whose query x train scores go to --scores-out");
  sub->add_option("--scores-out", o->scores_out, "--tracin: the query x train TracIn score matrix (HDF5, for lds)");
  sub->add_option("--target", o->target, "--tracin queries: loss at predicted | gold | <label>")
      ->capture_default_str();
  sub->add_option("--top-fraction", o->top_fraction, "write only the highest-scoring share of the rows, in (0, 1]")
      ->capture_default_str();
  sub->add_option("--dtype", o->dtype, "model dtype for gradients and HVPs: float64 | float32")
      ->capture_default_str();
  sub->add_option("--row-batch", o->batch, "training rows per gradient batch (lissa/cg: per iterative solve)")
      ->capture_default_str();
  sub->add_option("--hessian-batch", o->hessian_batch, "training rows per double backward")->capture_default_str();
  sub->add_option("--snippet", o->snippet_chars, "characters of training text kept (0 = all)")->capture_default_str();
  sub->add_option("--checkpoint-every", o->checkpoint_every_s, "seconds between saves of the resume state")
      ->capture_default_str();
  sub->add_flag("--no-resume", *no_resume, "start over: ignore a resume state left by an interrupted run, and save none");
  sub->add_option("--show", *show, "print the N highest-scoring training examples")->capture_default_str();
  add_corpus_flags(*sub, o->query_options);
  sub->footer(
      "Scores (gradient at the GOLD label, recomputed from the model, unprojected, no 1/n):\n"
      "  solver:  self(z) = grad L(z)^T (H + damping I)^-1 grad L(z)   (H: mean training Hessian)\n"
      "  TracIn:  self(z) = sum_k lr_k ||grad L(z; theta_k)||^2       (checkpoints of `fathom train`)\n"
      "High self-influence = the model fits z only by bending towards it: mislabel candidates first.\n"
      "exact/arnoldi/ekfac: each rank applies the stored inverse to its own rows; lissa/cg: one\n"
      "iterative solve per block of --row-batch rows on all ranks together (slow).\n"
      "Output: one line per training row, by descending score:\n"
      "  {\"rank\", \"id\", \"label\", \"score\", \"text\" (with --corpus)}\n"
      "<out>.meta.json: method, sign in words, solver report or checkpoints (epoch, lr), parameters, timings.\n"
      "--tracin --queries Q --scores-out S.h5: score(z_i, z_test) = sum_k lr_k grad L(z_test).grad L(z_i),\n"
      "positive = proponent; method \"tracin\" for `fathom lds --scores S.h5`.\n"
      "Score with: tools/eval-mislabels <out> truth.json --score score\n"
      "An interrupted run resumes from <out>.work/ (same settings and rank count).\n"
      "Corpus flags (--format, --id-field, ...) apply to --queries and --corpus.");
  return {sub, [o, show, no_resume, corpus, &ctx] {
            o->threads = ctx.threads;
            o->corpus_options = training_corpus_options(o->query_options);
            o->texts = corpus->count() > 0;
            o->resume = !*no_resume;
            auto& comm = ctx.comm();
            attrib::SelfInfluenceResult r = attrib::self_influence(*o, comm);
            if (comm.is_root()) {
              std::cout << "self-influence: " << r.rows << " training rows (P = " << r.dim << "), " << r.method;
              if (o->tracin) std::cout << " over " << r.checkpoints << " checkpoints";
              std::cout << ": setup " << r.setup_seconds << " s, scoring " << r.score_seconds << " s";
              if (r.resumed_rows > 0) std::cout << " (resumed " << r.resumed_rows << ")";
              if (r.negative > 0) std::cout << "; " << r.negative << " negative scores";
              std::cout << "; " << r.written << " lines written to " << o->out;
              if (r.queries > 0) std::cout << "; " << r.queries << " x " << r.rows << " scores to " << o->scores_out;
              std::cout << "\n";
              show_top(std::cout, o->out, *show);
            }
            return 0;
          }};
}

}  // namespace fathom::cli
