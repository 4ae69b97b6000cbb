// `fathom saliency`: options -> attrib::saliency (saliency_run.h).
#include <iostream>

#include "command.h"
#include "corpus_options.h"
#include "fathom/attrib/saliency_run.h"

namespace fathom::cli {

Registered register_saliency(CLI::App& app, Context& ctx) {
  struct Options {
    attrib::SaliencyOptions s;
    std::string method = "vanilla", rule = "gauss-legendre", of = "logit", target = "predicted";
  };
  auto o = std::make_shared<Options>();  // outlives parsing: the callback holds it
  auto* sub = app.add_subcommand(
      "saliency", "Which input tokens mattered: vanilla gradient, gradient x input, integrated gradients, "
                  "SmoothGrad or leave-one-out for every record of a file (distributed, input order kept)");
  auto& s = o->s;
  sub->add_option("--model", s.model_dir, "model bundle directory")->required();
  sub->add_option("--queries", s.queries, "corpus to explain (jsonl/tsv/csv)")->required();
  sub->add_option("--out", s.out, "output (JSONL, one line per record); <out>.meta.json beside it")->required();
  sub->add_option("--method", o->method, "vanilla | grad-input | ig | smoothgrad | loo")->capture_default_str();
  sub->add_option("--of", o->of, "differentiate the target's logit or the loss (cross-entropy at the target)")
      ->capture_default_str();
  sub->add_option("--target", o->target, "predicted | gold | a label name")->capture_default_str();
  sub->add_option("--steps", s.settings.steps, "ig: integration points")->capture_default_str();
  sub->add_option("--rule", o->rule,
                  "ig: gauss-legendre (Captum) | riemann-left (AllenNLP, with --steps 10) | riemann-right | "
                  "riemann-middle | riemann-trapezoid")
      ->capture_default_str();
  sub->add_option("--samples", s.settings.samples, "smoothgrad: noisy copies")->capture_default_str();
  sub->add_option("--noise", s.settings.noise, "smoothgrad: sigma as a share of (max - min) of the embeddings")
      ->capture_default_str();
  sub->add_option("--seed", s.settings.seed, "smoothgrad noise; --sanity re-initialisation")->capture_default_str();
  sub->add_option("--batch", s.batch, "examples per batch")->capture_default_str();
  sub->add_option("--rows-per-pass", s.settings.rows_per_pass,
                  "largest forward/backward pass in rows (ig steps and smoothgrad samples of many examples)")
      ->capture_default_str();
  sub->add_flag("--sanity", s.sanity,
                "also re-initialise the weights from the top block down (Adebayo et al.) and report the Spearman "
                "between trained and random saliency per stage in <out>.meta.json");
  add_corpus_flags(*sub, s.query_options);
  sub->footer(
      "Scores (raw, signed; F = the target's logit, or the loss with --of loss; e_t = token embedding):\n"
      "  vanilla     ||dF/de_t||_2                     grad-input  dF/de_t . e_t\n"
      "  ig          e_t . sum_k w_k dF/de_t(a_k e)    (zero baseline; completeness_gap =\n"
      "              sum_t IG_t - (F(x) - F(0)) per example)\n"
      "  smoothgrad  ||mean_n dF/de_t(e + eps_n)||_2, eps ~ N(0, (noise*(max-min))^2), seeded\n"
      "  loo         p_y(x) - p_y(x without token t), all deletions as batched passes\n"
      "Output (one line per record, input order):\n"
      "  {\"id\", \"prediction\", \"probs\", \"target\", \"method\", \"settings\", \"objective\",\n"
      "   [\"baseline_objective\", \"completeness_gap\" (ig)],\n"
      "   \"tokens\": [{\"token\", \"text\", \"begin\", \"end\", \"segment\", \"special\", \"score\", \"normalized\"}],\n"
      "   [\"words\": [{\"text\", \"begin\", \"end\", \"segment\", \"tokens\", \"score\", \"normalized\"}] (wordpiece)],\n"
      "   \"truncated\"}\n"
      "begin/end: UTF-8 byte offsets into text (segment 0) or text_pair (segment 1);\n"
      "normalized = |score| / sum of |score| over the example's tokens.");
  return {sub, [o, &ctx] {
            attrib::SaliencyOptions& s = o->s;
            s.settings.method = attrib::parse_saliency_method(o->method);
            s.settings.rule = attrib::parse_quadrature_rule(o->rule);
            s.settings.objective = attrib::parse_objective(o->of);
            s.target = attrib::SaliencyTarget::parse(o->target);
            s.sanity_seed = s.settings.seed;
            s.threads = ctx.threads;
            auto& comm = ctx.comm();
            const attrib::SaliencyRunResult r = attrib::saliency(s, comm);
            if (comm.is_root()) {
              std::cout << "saliency: " << r.examples << " examples (" << o->method << ")";
              if (r.mean_abs_gap)
                std::cout << ", completeness gap mean |.| " << *r.mean_abs_gap << ", max " << *r.max_abs_gap;
              std::cout << "; scores in " << s.out << "\n";
              for (const auto& st : r.sanity) {
                std::cout << "  sanity: randomised up to " << st.randomized.back() << ": mean Spearman ";
                if (st.mean_spearman) std::cout << *st.mean_spearman;
                else std::cout << "n/a";
                std::cout << " (" << st.examples << " examples)\n";
              }
            }
            return 0;
          }};
}

}  // namespace fathom::cli
