#include <iostream>

#include "command.h"
#include "corpus_options.h"
#include "fathom/model/train.h"

namespace fathom::cli {

Registered register_train(CLI::App& app, Context& ctx) {
  struct Opts {
    model::TrainOptions t;
    bool no_resume = false;
  };
  auto o = std::make_shared<Opts>();
  auto& t = o->t;
  auto* sub = app.add_subcommand("train", "Train a built-in model (data parallel across ranks) and write a bundle");
  sub->add_option("--corpus", t.corpus, "training corpus")->required();
  sub->add_option("--dev", t.dev, "dev corpus (loss and accuracy per epoch)");
  sub->add_option("--out", t.out_dir, "bundle directory (also metrics.jsonl and checkpoints/)")->required();
  sub->add_option("--arch", t.arch, "boe | bilstm | transformer")->capture_default_str()
      ->check(CLI::IsMember({"boe", "bilstm", "transformer"}));
  sub->add_option("--tokenizer", t.tokenizer, "word | wordpiece")->capture_default_str()
      ->check(CLI::IsMember({"word", "wordpiece"}));
  sub->add_option("--vocab", t.vocab, "existing vocab.txt (default: built from the training corpus)");
  sub->add_option("--lowercase", t.lowercase, "lowercase text")->capture_default_str();
  sub->add_option("--min-count", t.min_count, "vocabulary: minimum count")->capture_default_str();
  sub->add_option("--max-vocab", t.max_vocab, "vocabulary: maximum size (specials included)")->capture_default_str();
  sub->add_option("--max-length", t.max_length, "tokens per example incl. [CLS]/[SEP]")->capture_default_str();
  sub->add_option("--embedding-dim", t.embedding_dim, "E")->capture_default_str();
  sub->add_option("--hidden-dim", t.hidden_dim, "H (features)")->capture_default_str();
  sub->add_option("--layers", t.layers, "bilstm/transformer layers")->capture_default_str();
  sub->add_option("--heads", t.heads, "transformer heads")->capture_default_str();
  sub->add_option("--ff-dim", t.ff_dim, "transformer feed-forward width")->capture_default_str();
  sub->add_option("--dropout", t.dropout, "dropout")->capture_default_str();
  sub->add_option("--optimizer", t.optimizer, "adam | sgd")->capture_default_str()->check(CLI::IsMember({"adam", "sgd"}));
  sub->add_option("--lr", t.lr, "learning rate")->capture_default_str();
  sub->add_option("--weight-decay", t.weight_decay, "L2 on all parameters (optimizer)")->capture_default_str();
  sub->add_option("--l2-last", t.l2_last, "penalty lambda*||W||^2 on the last layer only (representer points)")
      ->capture_default_str();
  sub->add_option("--batch", t.batch, "GLOBAL batch size (split across ranks)")->capture_default_str();
  sub->add_option("--epochs", t.epochs, "epochs")->capture_default_str();
  sub->add_option("--seed", t.seed, "seed (initialisation, shuffling, dropout)")->capture_default_str();
  sub->add_option("--label-order", t.labels, "fixed label order (comma-separated; default: sorted)")->delimiter(',');
  sub->add_flag("--no-resume", o->no_resume, "ignore checkpoints in --out and start over");
  add_corpus_flags(*sub, t.corpus_options);
  sub->footer("Outputs in --out: fathom.json, weights.pt, vocab.txt, labels.txt (the bundle), metrics.jsonl\n"
              "(one line per epoch: train_loss, dev_loss, dev_accuracy, lr, examples_per_s, seconds) and\n"
              "checkpoints/epoch-K/ (weights, optimizer state, learning rate; TracIn uses them).\n"
              "A killed run resumes from its last complete epoch when re-run with the same options.");
  return {sub, [o, &ctx] {
            o->t.resume = !o->no_resume;
            o->t.threads = ctx.threads;
            auto& c = ctx.comm();
            auto r = model::train_model(o->t, c);
            if (c.is_root()) {
              std::cout << "train: " << r.train_examples << " examples, " << r.epochs.size() << " epoch(s), "
                        << r.examples_per_s << " examples/s";
              if (r.dev_accuracy) std::cout << ", dev accuracy " << *r.dev_accuracy;
              std::cout << "; bundle in " << r.bundle_dir << "\n";
            }
            return 0;
          }};
}

}  // namespace fathom::cli
