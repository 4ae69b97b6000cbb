#include <iostream>

#include "command.h"
#include "corpus_options.h"
#include "fathom/model/predict.h"

namespace fathom::cli {

Registered register_predict(CLI::App& app, Context& ctx) {
  struct Opts {
    model::PredictOptions p;
    CorpusFlags corpus_flags;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("predict", "Batched predictions of a model bundle on a corpus");
  sub->add_option("--model", o->p.model_dir, "model bundle directory")->required();
  sub->add_option("--corpus", o->p.corpus, "corpus to predict")->required();
  sub->add_option("--out", o->p.out, "predictions (JSONL)")->required();
  sub->add_option("--batch", o->p.batch, "batch size per rank")->capture_default_str();
  add_corpus_flags(*sub, o->corpus_flags);
  sub->footer("Output: JSONL in input order whatever the number of ranks, one line per example:\n"
              "  {\"id\", \"label\" (predicted), \"probs\" {label: p}, \"gold\" (null if absent)}\n"
              "plus <out>.summary.json with the accuracy when gold labels exist.");
  return {sub, [o, &ctx] {
            o->p.corpus_options = corpus_options(o->corpus_flags);
            o->p.threads = ctx.threads;
            auto& c = ctx.comm();
            auto r = model::predict(o->p, c);
            if (c.is_root()) {
              std::cout << "predict: " << r.n << " examples, " << r.examples_per_s << " examples/s";
              if (r.accuracy) std::cout << ", accuracy " << *r.accuracy;
              std::cout << "; predictions in " << o->p.out << "\n";
            }
            return 0;
          }};
}

}  // namespace fathom::cli
