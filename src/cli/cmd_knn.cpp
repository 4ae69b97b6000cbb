#include <iostream>

#include "command.h"
#include "corpus_options.h"
#include "show_explanations.h"
#include "fathom/attrib/knn.h"
#include "fathom/core/error.h"

namespace fathom::cli {

Registered register_knn(CLI::App& app, Context& ctx) {
  struct Options {
    attrib::KnnOptions knn;
    bool audit = false;
    std::size_t budget_mb = 64;
    std::int64_t show = 0;
  };
  auto o = std::make_shared<Options>();  // outlives parsing: the callback holds it
  auto* sub = app.add_subcommand(
      "knn", "Nearest training examples of queries, with conformity (kNN interpretation); --audit ranks "
             "training examples by how many neighbours disagree with their label (mislabel candidates)");
  auto& k = o->knn;
  sub->add_flag("--audit", o->audit, "rank every training example of the cache instead of answering queries");
  sub->add_option("--model", k.model_dir, "model bundle the cache was built from")->required();
  sub->add_option("--index", k.index, "index manifest (fathom index --field features --out)")->required();
  sub->add_option("--queries", k.queries, "query corpus (jsonl/tsv/csv; labels ignored); not with --audit");
  sub->add_option("--cache", k.cache, "the cache the index was built over (default: the path its manifest records)");
  sub->add_option("--corpus", k.corpus,
                  "training corpus the cache was built from (record i = cache row i, same ids): adds neighbour texts");
  sub->add_option("--k", k.k, "neighbours per query")->capture_default_str();
  sub->add_option("--out", k.out, "output (JSONL); <out>.meta.json beside it")->required();
  sub->add_option("--nprobe", k.nprobe, "IVF lists probed per query (0 = the manifest's)")->capture_default_str();
  sub->add_option("--batch", k.batch, "queries per forward batch")->capture_default_str();
  sub->add_option("--snippet", k.snippet_chars, "characters of neighbour text kept (0 = all)")->capture_default_str();
  sub->add_option("--memory-mb", o->budget_mb, "--audit: MiB per rank for one block of feature rows")
      ->capture_default_str();
  sub->add_option("--show", o->show, "print the first N queries with their neighbours (and texts with --corpus)")
      ->capture_default_str();
  add_corpus_flags(*sub, k.query_options);
  sub->footer(
      "Output (one line per query, input order):\n"
      "  {\"id\", \"prediction\", \"probs\" {label: p}, \"conformity\",\n"
      "   \"neighbors\": [{\"id\", \"label\", \"distance\", \"text\" (with --corpus)}]}\n"
      "--audit (one line per labelled training example, most suspicious first):\n"
      "  {\"rank\", \"id\", \"label\", \"disagreement\", \"neighbors\": [...]}\n"
      "conformity = share of the k neighbours whose label is the prediction; disagreement = share of\n"
      "the k neighbours (the example itself excluded) whose label differs from its own. distance: the\n"
      "index metric's value (l2: squared Euclidean; ip/cosine: similarity, larger is nearer).\n"
      "Corpus flags (--format, --id-field, ...) apply to --queries and --corpus.\n"
      "Refused with exit 2, nothing written: k <= 0 or k > rows, an index of another cache, a model the\n"
      "cache was not built from, a corpus whose ids differ from the cache's.");
  return {sub, [o, &ctx] {
            attrib::KnnOptions& k = o->knn;
            k.threads = ctx.threads;
            k.corpus_options = training_corpus_options(k.query_options);
            auto& comm = ctx.comm();
            if (o->audit) {
              if (!k.queries.empty()) throw UsageError("knn --audit: --queries is not used (the queries are the cache's rows)");
              attrib::AuditOptions a;
              static_cast<attrib::KnnSources&>(a) = k;
              a.memory_budget_bytes = o->budget_mb << 20;
              attrib::AuditResult r = attrib::audit(a, comm);
              if (comm.is_root()) {
                std::cout << "knn --audit: " << r.labelled << " labelled examples of " << r.rows << " ranked";
                if (r.mean_disagreement) std::cout << ", mean disagreement " << *r.mean_disagreement;
                std::cout << "; candidates in " << k.out << "\n";
              }
              return 0;
            }
            if (k.queries.empty()) throw UsageError("knn: --queries is required (or --audit)");
            attrib::KnnResult r = attrib::knn(k, comm);
            if (comm.is_root()) {
              std::cout << "knn: " << r.queries << " queries";
              if (r.mean_conformity) std::cout << ", mean conformity " << *r.mean_conformity;
              std::cout << "; neighbours in " << k.out << "\n";
              show_explanations(std::cout, k.out, k.queries, k.query_options, o->show);
            }
            return 0;
          }};
}

}  // namespace fathom::cli
