// `fathom stats`: the first reader of corpora. Each rank reads its shard;
// partial statistics are gathered and merged on rank 0.
#include <iostream>

#include "command.h"
#include "corpus_options.h"
#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"
#include "fathom/core/progress.h"
#include "fathom/data/corpus.h"
#include "fathom/data/corpus_stats.h"
#include "fathom/data/tokenizer_factory.h"
#include "fathom/data/words.h"

namespace fathom::cli {

Registered register_stats(CLI::App& app, Context& ctx) {
  struct Opts {
    std::string corpus, tokenizer = "word", vocab, out;
    bool lowercase = true, json = false;
    CorpusFlags corpus_flags;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("stats", "Corpus statistics: examples, labels, lengths, tokens, vocabulary, duplicates");
  sub->add_option("--corpus", o->corpus, "corpus file (.jsonl, .tsv, .csv)")->required();
  sub->add_option("--tokenizer", o->tokenizer, "word | wordpiece")->capture_default_str()->check(CLI::IsMember({"word", "wordpiece"}));
  sub->add_option("--vocab", o->vocab, "vocab.txt (required for wordpiece; optional for word: then unknown words count as [UNK])");
  sub->add_option("--lowercase", o->lowercase, "lowercase before tokenizing")->capture_default_str();
  sub->add_option("--out", o->out, "also write the report as JSON to this file");
  sub->add_flag("--json", o->json, "print JSON instead of text");
  add_corpus_flags(*sub, o->corpus_flags);
  sub->footer("Output: text report on stdout (or JSON with --json); --out writes the JSON report (format_version 1).\n"
              "Token counts use the chosen tokenizer; text lengths are Unicode code points (text + text_pair).");
  return {sub, [o, &ctx] {
            auto& c = ctx.comm();
            if (o->tokenizer == "wordpiece" && o->vocab.empty())
              throw UsageError("stats: --tokenizer wordpiece needs --vocab vocab.txt");
            // Without a vocabulary, count the words themselves; with one,
            // count what the model would see (unknown words as [UNK]).
            data::CorpusStats::Tokenize tokenize;
            if (o->vocab.empty()) {
              data::TokenizerOptions topt;
              topt.lowercase = o->lowercase;
              tokenize = [topt](std::string_view t) { return data::basic_words(t, topt); };
            } else {
              std::shared_ptr<data::Tokenizer> tok = data::load_tokenizer(
                  o->tokenizer, o->vocab, std::string("{\"lowercase\":") + (o->lowercase ? "true" : "false") + "}");
              tokenize = [tok](std::string_view t) { return tok->tokenize(t); };
            }
            data::CorpusOptions copt = corpus_options(o->corpus_flags);
            data::CorpusStats stats(tokenize);
            std::int64_t n = data::count_records(o->corpus, copt);
            data::Range range = data::shard_range(n, c.rank(), c.size());
            data::CorpusReader reader(o->corpus, copt, range);
            Progress progress("stats " + o->corpus, n);
            data::Example e;
            std::int64_t last = 0;
            while (reader.next(e)) {
              stats.add(e);
              // The root shows the global rate estimated from its own shard.
              std::int64_t now = reader.records_read();
              progress.advance((now - last) * c.size());
              last = now;
            }
            progress.finish();
            report_skipped(reader, c);
            std::string mine = stats.serialize();
            std::vector<std::int64_t> counts;
            auto all = c.all_gatherv(mine.data(), std::int64_t(mine.size()), comm::DType::u8, &counts);
            if (c.is_root()) {
              data::CorpusStats merged(tokenize);
              std::size_t off = 0;
              for (auto k : counts) {
                merged.merge(data::CorpusStats::deserialize(std::string(all.begin() + off, all.begin() + off + k)));
                off += std::size_t(k);
              }
              if (!o->out.empty()) write_file_atomic(o->out, merged.to_json() + "\n");
              std::cout << (o->json ? merged.to_json() + "\n" : "corpus: " + o->corpus + "\n" + merged.to_text());
              if (!o->out.empty() && !o->json) std::cout << "report written to " << o->out << "\n";
            }
            return 0;
          }};
}

}  // namespace fathom::cli
