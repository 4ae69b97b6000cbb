// `fathom hotflip`: options -> attack::hotflip_file (hotflip.h).
#include <iostream>

#include "command.h"
#include "corpus_options.h"
#include "fathom/attack/hotflip.h"

namespace fathom::cli {

Registered register_hotflip(CLI::App& app, Context& ctx) {
  struct Options {
    attack::HotFlipFileOptions h;
    std::string target, vocab_filter = "none";
    std::int64_t show = 0;
  };
  auto o = std::make_shared<Options>();  // outlives parsing: the callback holds it
  auto& h = o->h;
  auto* sub = app.add_subcommand("hotflip", "HotFlip (Ebrahimi et al. 2018): flip the most salient tokens until the "
                                            "prediction changes; per instance, batched, distributed");
  sub->add_option("--model", h.model_dir, "model bundle directory")->required();
  sub->add_option("--queries", h.queries, "examples to attack (jsonl/tsv/csv)")->required();
  sub->add_option("--out", h.out, "output (JSONL); <out>.meta.json beside it")->required();
  sub->add_option("--target", o->target, "targeted: flip until the prediction is this label");
  sub->add_option("--max-flips", h.config.max_flips, "flips per example at most")->capture_default_str();
  sub->add_option("--vocab-filter", o->vocab_filter,
                  "none | comma list of alpha (letters only), stopwords (no stop words), words (no ## pieces)")
      ->capture_default_str();
  sub->add_option("--batch", h.batch, "examples attacked together")->capture_default_str();
  sub->add_option("--show", o->show, "print the first N examples with their flips")->capture_default_str();
  add_corpus_flags(*sub, h.query_options);
  sub->footer(
      "Each step: the token with the largest gradient norm (of the loss at the original prediction, or\n"
      "towards --target) is replaced by the token with the best first-order score (e_w - e_i).g whose text\n"
      "tokenizes back to the attacked ids; the model is re-evaluated; stop at success or --max-flips.\n"
      "Output (one line per example, input order): {id, text, adversarial_text, label_before, label_after,\n"
      "probs_before, probs_after, gold, success, flips: [{position, old, new, score, probs}]}.\n"
      "<out>.meta.json: n, success_rate, mean_flips (per success), success_rate_correct (among examples\n"
      "whose gold label the model predicts), instances_per_s.");
  return {sub, [o, &ctx] {
            attack::HotFlipFileOptions& h = o->h;
            if (!o->target.empty()) h.config.target = o->target;
            h.config.vocab_filter = attack::parse_vocab_filter(o->vocab_filter);
            h.threads = ctx.threads;
            h.keep_lines = o->show;
            auto& comm = ctx.comm();
            const attack::InstanceFileResult r = attack::hotflip_file(h, comm);
            if (comm.is_root()) {
              std::cout << "hotflip: " << r.successes << " of " << r.n << " examples flipped (" << r.success_rate
                        << "), " << r.mean_steps << " flips per success";
              if (r.success_rate_correct)
                std::cout << "; success rate " << *r.success_rate_correct << " among the " << r.correct
                          << " correctly classified";
              std::cout << "; " << r.instances_per_s << " examples/s; written to " << h.out << "\n";
              for (const std::string& text : r.first_lines) {
                const auto line = nlohmann::json::parse(text);
                std::cout << "  " << line["id"].get<std::string>() << " [" << line["label_before"].get<std::string>()
                          << " -> " << line["label_after"].get<std::string>() << "]";
                for (const auto& f : line["flips"])
                  std::cout << " " << f["old"].get<std::string>() << "->" << f["new"].get<std::string>();
                std::cout << "\n    " << line["text"].get<std::string>() << "\n    "
                          << line["adversarial_text"].get<std::string>() << "\n";
              }
            }
            return 0;
          }};
}

}  // namespace fathom::cli
