#include <iostream>

#include "command.h"
#include "corpus_options.h"
#include "fathom/model/predict.h"

namespace fathom::cli {

Registered register_predict(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<model::PredictOptions>();  // outlives parsing: the callback holds it
  auto* sub = app.add_subcommand("predict", "Batched predictions of a model bundle on a corpus");
  sub->add_option("--model", o->model_dir, "model bundle directory")->required();
  sub->add_option("--corpus", o->corpus, "corpus to predict")->required();
  sub->add_option("--out", o->out, "predictions (JSONL)")->required();
  sub->add_option("--batch", o->batch, "batch size per rank")->capture_default_str();
  add_corpus_flags(*sub, o->corpus_options);
  sub->footer("Output: JSONL in input order whatever the number of ranks, one line per example:\n"
              "  {\"id\", \"label\" (predicted), \"probs\" {label: p}, \"gold\" (null if absent)}\n"
              "plus <out>.summary.json with the accuracy when gold labels exist.");
  return {sub, [o, &ctx] {
            o->threads = ctx.threads;
            auto& c = ctx.comm();
            auto r = model::predict(*o, c);
            if (c.is_root()) {
              std::cout << "predict: " << r.n << " examples, " << r.examples_per_s << " examples/s";
              if (r.accuracy) std::cout << ", accuracy " << *r.accuracy;
              std::cout << "; predictions in " << o->out << "\n";
            }
            return 0;
          }};
}

}  // namespace fathom::cli
