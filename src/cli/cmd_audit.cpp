// `fathom audit`: options -> audit::run_audit -> a one-paragraph summary.
// Every rank counts its shard of the corpus; rank 0 merges and writes the report.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "command.h"
#include "corpus_options.h"
#include "fathom/attrib/knn.h"
#include "fathom/audit/audit.h"
#include "fathom/audit/cross_refs.h"
#include "fathom/core/error.h"

namespace fathom::cli {

namespace {

// With --truth: what the audit and its sources found of the planted truth
// (report.json "planted"), so a job's log says it without opening the report.
void print_planted(std::ostream& os, const std::string& report_json) {
  std::ifstream in(report_json);
  const nlohmann::json report = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (report.is_discarded() || !report.contains("planted")) return;
  const nlohmann::json& planted = report["planted"];
  for (const auto& a : planted.value("artifacts", nlohmann::json::array()))
    os << "  planted artifact '" << a.value("token", "?") << "' (" << a.value("label", "?") << "): "
       << (a.value("found", false) ? "found, rank " + a["rank_for_label"].dump() + " for its label" : "not found")
       << "\n";
  if (!planted.contains("flipped")) return;
  const nlohmann::json& f = planted["flipped"];
  const int flips = f.value("planted", 0), listed = f.value("listed", 0), hits = f.value("flipped_among_listed", 0);
  os << "  planted flips: " << flips << "; in the " << listed << " likely mislabels: " << hits;
  if (listed > 0 && flips > 0)
    os << " (precision " << double(hits) / listed << ", recall " << double(hits) / flips << ")";
  os << "\n";
  for (const char* source : audit::kMislabelSources)
    if (f.contains(source))
      os << "    " << source << ": " << f[source].value("recall_top_10pct", 0.0) * 100
         << "% of the flips in its top 10%, ROC AUC " << f[source].value("roc_auc", 0.0) << "\n";
}

// With --index: the kNN label-disagreement ranking of every training row
// (attrib::audit, the same as `fathom knn --audit`) into
// <out>/knn-suspects.jsonl, which the audit then reads as --knn-suspects.
std::string run_knn_suspects(const audit::AuditOptions& o, const std::string& index, std::int64_t k,
                             comm::Communicator& comm) {
  attrib::AuditOptions a;
  a.model_dir = o.model;
  a.index = index;
  a.cache = o.cache;
  a.k = k;
  a.neighbors_written = 0;  // only the disagreements are read back
  a.out = (std::filesystem::path(o.out) / "knn-suspects.jsonl").string();
  const attrib::AuditResult r = attrib::audit(a, comm);
  if (comm.is_root())
    std::cout << "knn: " << r.labelled << " labelled training examples ranked by how many of their " << k
              << " nearest neighbours carry another label (" << a.out << ", " << r.seconds << " s)\n";
  return a.out;
}

}  // namespace

Registered register_audit(CLI::App& app, Context& ctx) {
  struct Opts : audit::AuditOptions {
    std::string index;
    std::int64_t knn_k = 10;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand(
      "audit", "Dataset artifact audit: token-label PMI and z* over the whole corpus (Bonferroni), cross-referenced "
               "with triggers, self-influence and kNN suspects into likely artifacts and likely mislabels");
  sub->add_option("--corpus", o->corpus, "labelled corpus (.jsonl, .tsv, .csv)")->required();
  sub->add_option("--field", o->field, "text | text_pair | both (the union of the two segments' tokens)")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "text_pair", "both"}));
  sub->add_option("--ngrams", o->ngrams, "count n-grams of 1..N words (N = 1, 2 or 3)")->capture_default_str();
  sub->add_option("--smoothing", o->statistics.smoothing, "k of the add-k smoothing for PMI")->capture_default_str();
  sub->add_option("--alpha", o->statistics.alpha, "significance level before the Bonferroni correction")
      ->capture_default_str();
  sub->add_option("--min-count", o->statistics.min_count, "test only tokens in at least this many examples")
      ->capture_default_str();
  sub->add_option("--model", o->model, "count the tokens of this bundle's tokenizer (default: words)");
  sub->add_option("--lowercase", o->lowercase, "word tokens: lowercase first")->capture_default_str();
  sub->add_option("--knn-suspects", o->knn_suspects, "cross-reference: fathom knn --audit output (JSONL)");
  sub->add_option("--self-influence", o->self_influence,
                  "cross-reference: self-influence scores (JSONL rows {\"id\", \"score\", \"label\"?})");
  sub->add_option("--cache", o->cache,
                  "cross-reference: gradient cache of the corpus (fathom cache --target gold): its per-example "
                  "losses rank mislabels; with --index, the cache the index was built over");
  sub->add_option("--index", o->index,
                  "cross-reference: features index of the cache (fathom index --field features): every row's kNN "
                  "label disagreement (as fathom knn --audit; written to <out>/knn-suspects.jsonl)");
  sub->add_option("--knn-k", o->knn_k, "--index: neighbours per row")->capture_default_str();
  sub->add_option("--triggers", o->triggers, "cross-reference: fathom triggers output (JSON)");
  sub->add_option("--truth", o->truth, "planted truth (fathom synth truth.json): scores what the audit found");
  sub->add_option("--top", o->top, "tokens per label in the report")->capture_default_str();
  sub->add_option("--artifacts", o->artifacts, "likely artifacts listed")->capture_default_str();
  sub->add_option("--suspects", o->suspects, "likely mislabels listed")->capture_default_str();
  sub->add_option("--snippet", o->snippet, "characters of each suspect's text kept (0 = all)")->capture_default_str();
  sub->add_option("--out", o->out, "output directory: report.json, report.html, tokens.tsv")->required();
  add_corpus_flags(*sub, o->corpus_options);
  sub->footer(
      "Counts: each token (an n-gram of basic words, or the bundle's tokens) once per example, per label.\n"
      "  z*(w,y)  = (p̂ - p0) / sqrt(p0 (1 - p0) / n), p̂ = share of the n examples with w labelled y, p0 = 1/L;\n"
      "            significant when above z_c = Phi^-1(1 - alpha / V), V = tokens tested (one-sided Bonferroni).\n"
      "  PMI(w,y) = ln p(w,y) / (p(w) p(y)) over the counts + k (add-k smoothing).\n"
      "Outputs (in --out): report.json (format fathom.audit v1), report.html (self-contained: inline SVG),\n"
      "tokens.tsv (every tested token: n, count/z/pmi per label).\n"
      "Likely mislabels need --knn-suspects or --index, --self-influence and/or --cache (losses):\n"
      "  score = mean percentile over the sources given.\n"
      "Every record needs a label (and a text_pair with --field text_pair); bad input exits 2 naming the file,\n"
      "line and field. Under MPI each rank counts its shard; memory does not grow with the corpus.");
  return {sub, [o, &ctx] {
            auto& comm = ctx.comm();
            if (!o->index.empty()) {
              if (!o->knn_suspects.empty())
                throw UsageError("audit: give --index (kNN computed here) or --knn-suspects (a knn --audit file), not both");
              if (o->knn_k < 1) throw UsageError("audit: --knn-k must be >= 1, got " + std::to_string(o->knn_k));
              o->knn_suspects = run_knn_suspects(*o, o->index, o->knn_k, comm);
            }
            audit::AuditSummary s = audit::run_audit(*o, comm);
            if (!comm.is_root()) return 0;
            std::cout << "audit: " << s.examples << " examples, " << s.tests << " tokens tested, z_c = " << s.z_threshold
                      << ", " << s.significant << " significant (token, label) pairs";
            if (s.skipped) std::cout << ", " << s.skipped << " records skipped";
            std::cout << "\n";
            for (std::size_t y = 0; y < s.labels.size(); ++y)
              std::cout << "  top token for '" << s.labels[y] << "': " << s.top_token[y] << "\n";
            if (s.mislabels) std::cout << "  " << s.mislabels << " likely mislabels listed\n";
            if (!o->truth.empty()) print_planted(std::cout, s.report_json);
            std::cout << "report: " << s.report_html << " (" << s.seconds << " s, peak memory "
                      << s.peak_rss_bytes / (1 << 20) << " MiB per rank)\n";
            return 0;
          }};
}

}  // namespace fathom::cli
