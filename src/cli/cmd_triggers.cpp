// `fathom triggers`: options -> attack::find_trigger (triggers.h).
#include <iomanip>
#include <iostream>

#include "command.h"
#include "corpus_options.h"
#include "fathom/attack/triggers.h"
#include "fathom/core/error.h"

namespace fathom::cli {

Registered register_triggers(CLI::App& app, Context& ctx) {
  struct Options {
    attack::TriggerOptions t;
    std::string target, from_label, position = "prepend", vocab_filter = "none";
    bool untargeted = false;
  };
  auto o = std::make_shared<Options>();  // outlives parsing: the callback holds it
  auto& c = o->t.config;
  auto* sub = app.add_subcommand("triggers", "Universal adversarial triggers (Wallace et al. 2019): a short token "
                                             "sequence that drives every input to a label; batched, distributed");
  sub->add_option("--model", o->t.model_dir, "model bundle directory")->required();
  sub->add_option("--corpus", o->t.corpus, "examples the trigger is searched on (jsonl/tsv/csv, labelled)")->required();
  sub->add_option("--out", o->t.out, "output (JSON)")->required();
  auto* target = sub->add_option("--target", o->target, "targeted: the label the trigger drives inputs to");
  auto* untargeted = sub->add_flag("--untargeted", o->untargeted, "untargeted: away from each example's gold label");
  target->excludes(untargeted);
  sub->add_option("--from-label", o->from_label, "only attack examples with this gold label");
  sub->add_option("--length", c.length, "trigger tokens (1-10)")->capture_default_str();
  sub->add_option("--beam", c.beam, "beam width over positions (1 = greedy coordinate descent)")->capture_default_str();
  sub->add_option("--candidates", c.candidates, "candidate tokens per position (top-K by first-order score)")
      ->capture_default_str();
  sub->add_option("--batch", c.batch, "examples per iteration")->capture_default_str();
  sub->add_option("--iterations", c.iterations, "iterations at most (one batch each)")->capture_default_str();
  sub->add_option("--init", c.init, "initial trigger text (default: \"the\" x length)");
  sub->add_option("--position", o->position, "prepend | append | pair (start of the second text)")
      ->capture_default_str()
      ->check(CLI::IsMember({"prepend", "append", "pair"}));
  sub->add_option("--seed", c.seed, "batch order")->capture_default_str();
  sub->add_flag("--reference", c.reference, "one candidate per forward pass (the authors' code), for checks");
  sub->add_option("--vocab-filter", o->vocab_filter,
                  "none | comma list of alpha (letters only), stopwords (no stop words), words (no ## pieces)")
      ->capture_default_str();
  sub->add_option("--eval", o->t.eval, "held-out corpus: accuracy and target rate before/after, per class");
  add_corpus_flags(*sub, o->t.corpus_options);
  sub->footer(
      "Objective (minimised, mean over a batch): targeted CE(logits, target) over examples whose gold label\n"
      "is not the target; untargeted -CE(logits, gold). Per iteration: the gradient w.r.t. the trigger\n"
      "embeddings averaged over the batch, the K tokens per position with the smallest first-order score\n"
      "(e_w - e_i).g, then a beam search over positions scoring every candidate trigger by its true batch\n"
      "loss. Stops when no candidate improves (\"converged\") or after --iterations. Candidates are scored\n"
      "in a few large forward passes shared over ranks; the same seed gives the same trigger at any rank\n"
      "count. Every candidate trigger must tokenize back to its ids when written as text.\n"
      "Output (JSON): trigger {ids, tokens, text}, init, iterations [{iteration, loss_before, loss, tokens,\n"
      "evaluated, rejected}], stopped, and with --eval: accuracy_before/after, flip_rate (targeted: share of\n"
      "non-target examples predicted as the target with the trigger; untargeted: share of correct\n"
      "predictions the trigger changes) and per_class [{label, n, accuracy_before/after,\n"
      "target_rate_before/after}].\n"
      "Refused with exit 2: no --target/--untargeted, an unknown label, --length outside 1-10, a corpus\n"
      "without examples to attack, a vocabulary without writable tokens.");
  return {sub, [o, &ctx] {
            attack::TriggerOptions& t = o->t;
            attack::TriggerConfig& c = t.config;
            if (o->target.empty() && !o->untargeted)
              throw UsageError("triggers: give --target LABEL or --untargeted");
            if (!o->target.empty()) c.target = o->target;
            if (!o->from_label.empty()) c.from_label = o->from_label;
            c.position = attack::parse_trigger_position(o->position);
            c.vocab_filter = attack::parse_vocab_filter(o->vocab_filter);
            t.threads = ctx.threads;
            auto& comm = ctx.comm();
            attack::TriggerResult r = attack::find_trigger(t, comm);
            if (comm.is_root()) {
              const auto& s = r.search;
              std::cout << "triggers: '" << s.text << "' after " << s.iterations.size() << " iterations ("
                        << s.stopped << ")";
              if (!s.iterations.empty()) std::cout << ", batch loss " << s.iterations.back().loss;
              std::cout << "; " << s.forward_passes << " forward passes, " << std::fixed << std::setprecision(1)
                        << s.seconds << " s\n";
              if (r.eval) {
                std::cout << std::setprecision(3) << "  held-out (" << r.eval->n << " examples): accuracy "
                          << r.eval->accuracy_before << " -> " << r.eval->accuracy_after;
                if (r.eval->flip_rate) std::cout << ", flip rate " << *r.eval->flip_rate << " of " << r.eval->flip_base;
                std::cout << "\n";
                for (const auto& k : r.eval->per_class) {
                  std::cout << "    " << k.label << " (" << k.n << "): accuracy " << k.accuracy_before << " -> "
                            << k.accuracy_after;
                  if (c.target) std::cout << ", predicted " << *c.target << " " << k.target_rate_before << " -> "
                                          << k.target_rate_after;
                  std::cout << "\n";
                }
              }
              std::cout << "  written to " << t.out << "\n";
            }
            return 0;
          }};
}

}  // namespace fathom::cli
