// `fathom stats`: options -> data::compute_corpus_stats -> report. Each rank
// reads its shard; rank 0 merges the shards and writes the report.
#include <iostream>

#include "command.h"
#include "corpus_options.h"
#include "fathom/core/atomic_file.h"
#include "fathom/data/compute_stats.h"

namespace fathom::cli {

Registered register_stats(CLI::App& app, Context& ctx) {
  struct Opts {
    data::StatsOptions stats;
    std::string out;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("stats", "Corpus statistics: examples, labels, lengths, tokens, vocabulary, duplicates");
  sub->add_option("--corpus", o->stats.corpus, "corpus file (.jsonl, .tsv, .csv)")->required();
  sub->add_option("--tokenizer", o->stats.tokenizer, "word | wordpiece")->capture_default_str()->check(CLI::IsMember({"word", "wordpiece"}));
  sub->add_option("--vocab", o->stats.vocab, "vocab.txt (required for wordpiece; optional for word: then unknown words count as [UNK])");
  sub->add_option("--lowercase", o->stats.lowercase, "lowercase before tokenizing")->capture_default_str();
  sub->add_option("--out", o->out, "also write the report as JSON to this file");
  sub->add_flag("--json", o->json, "print JSON instead of text");
  add_corpus_flags(*sub, o->stats.corpus_options);
  sub->footer("Output: text report on stdout (or JSON with --json); --out writes the JSON report (format_version 1).\n"
              "Token counts use the chosen tokenizer; text lengths are Unicode code points (text + text_pair).");
  return {sub, [o, &ctx] {
            data::StatsOptions options = o->stats;
            std::optional<data::CorpusStats> stats = data::compute_corpus_stats(options, shard_group(ctx.comm()));
            if (!stats) return 0;  // not rank 0
            const std::string json = stats->to_json() + "\n";
            if (!o->out.empty()) write_file_atomic(o->out, json);
            std::cout << (o->json ? json : "corpus: " + options.corpus + "\n" + stats->to_text());
            if (!o->out.empty() && !o->json) std::cout << "report written to " << o->out << "\n";
            return 0;
          }};
}

}  // namespace fathom::cli
