// `fathom reduce`: options -> attack::reduce_file (reduce.h).
#include <iostream>

#include "command.h"
#include "corpus_options.h"
#include "fathom/attack/reduce.h"

namespace fathom::cli {

Registered register_reduce(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<attack::ReduceFileOptions>();  // outlives parsing: the callback holds it
  auto show = std::make_shared<std::int64_t>(0);
  auto* sub = app.add_subcommand("reduce", "Input reduction (Feng et al. 2018): remove the least salient tokens while "
                                           "the prediction stays; per instance, batched, distributed");
  sub->add_option("--model", o->model_dir, "model bundle directory")->required();
  sub->add_option("--queries", o->queries, "examples to reduce (jsonl/tsv/csv)")->required();
  sub->add_option("--out", o->out, "output (JSONL); <out>.meta.json beside it")->required();
  sub->add_option("--beam", o->config.beam, "beam width")->capture_default_str();
  sub->add_option("--min-tokens", o->config.min_tokens, "never fewer tokens than this")->capture_default_str();
  sub->add_option("--batch", o->batch, "examples reduced together")->capture_default_str();
  sub->add_option("--show", *show, "print the first N examples with their reductions")->capture_default_str();
  add_corpus_flags(*sub, o->query_options);
  sub->footer(
      "Saliency of a token: the norm of the gradient of the loss at the original prediction w.r.t. its\n"
      "embedding. Each beam entry loses one of its --beam least salient tokens; children that change the\n"
      "prediction are dropped, the --beam most confident survive; stop when none keeps the prediction.\n"
      "Output (one line per example, input order): {id, text, label, gold, confidence_before,\n"
      "reduced_text, reduced_tokens, original_length, reduced_length,\n"
      "removed: [{position, token, saliency, confidence}]}.\n"
      "<out>.meta.json: n, success_rate (share with >= 1 token removed), mean_removed,\n"
      "mean_original_length, mean_reduced_length, instances_per_s.");
  return {sub, [o, show, &ctx] {
            o->threads = ctx.threads;
            o->keep_lines = *show;
            auto& comm = ctx.comm();
            const attack::InstanceFileResult r = attack::reduce_file(*o, comm);
            if (comm.is_root()) {
              std::cout << "reduce: " << r.n << " examples, " << r.successes << " reduced, " << r.mean_steps
                        << " tokens removed per reduced example; " << r.instances_per_s << " examples/s; written to "
                        << o->out << "\n";
              for (const std::string& text : r.first_lines) {
                const auto line = nlohmann::json::parse(text);
                std::cout << "  " << line["id"].get<std::string>() << " [" << line["label"].get<std::string>() << ", "
                          << line["confidence_before"].get<double>() << " -> "
                          << (line["removed"].empty() ? line["confidence_before"].get<double>()
                                                      : line["removed"].back()["confidence"].get<double>())
                          << "]\n    " << line["text"].get<std::string>() << "\n    "
                          << line["reduced_text"].get<std::string>() << "\n";
              }
            }
            return 0;
          }};
}

}  // namespace fathom::cli
