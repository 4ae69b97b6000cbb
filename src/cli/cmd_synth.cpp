#include <iostream>

#include "command.h"
#include "fathom/data/synth.h"

namespace fathom::cli {

Registered register_synth(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<data::SynthOptions>();
  auto* sub = app.add_subcommand("synth", "Generate a synthetic corpus with planted artifacts and flipped labels");
  sub->add_option("--task", o->task, "sentiment | nli")->capture_default_str()->check(CLI::IsMember({"sentiment", "nli"}));
  sub->add_option("--n", o->n, "training examples (dev/test sizes are fractions of it)")->capture_default_str();
  sub->add_option("--seed", o->seed, "random seed: same seed, same bytes")->capture_default_str();
  sub->add_option("--artifact-rate", o->artifact_rate, "share of one label's train/dev examples given the artifact token")
      ->capture_default_str();
  sub->add_option("--flip-rate", o->flip_rate, "share of training labels flipped")->capture_default_str();
  sub->add_option("--classes", o->classes, "sentiment: 2, 3 or 5 classes (0 = task default); nli: 3")
      ->capture_default_str();
  sub->add_option("--dev-fraction", o->dev_fraction, "dev size as a fraction of --n")->capture_default_str();
  sub->add_option("--test-fraction", o->test_fraction, "test size as a fraction of --n")->capture_default_str();
  sub->add_option("--out", o->out_dir, "output directory")->required();
  sub->footer("Writes train.jsonl dev.jsonl test.jsonl truth.json into --out. JSONL fields: id, text, [text_pair], label.\n"
              "truth.json lists the artifact token(s) with their label and the ids of flipped examples.\n"
              "Under MPI only rank 0 writes; the others wait.");
  return {sub, [o, &ctx] {
            auto& c = ctx.comm();
            if (c.is_root()) {
              auto s = data::synthesize(*o);
              std::cout << "synth: " << s.task << " " << s.train.examples << "/" << s.dev.examples << "/"
                        << s.test.examples << " train/dev/test examples, artifact '" << s.artifact_token << "' -> "
                        << s.artifact_label << " in " << s.artifact_train << " train examples, " << s.flipped
                        << " flipped labels; outputs in " << o->out_dir << "\n";
            }
            c.barrier();
            return 0;
          }};
}

}  // namespace fathom::cli
