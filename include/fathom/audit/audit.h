#pragma once
// `fathom audit` as a library call: token-label statistics of a whole corpus
// (PMI, z* with a Bonferroni threshold; statistics.h), counted per rank on
// its shard while the corpus streams past and merged on rank 0, cross-
// referenced with the other methods' outputs (cross_refs.h) into ranked lists
// of likely artifacts and likely mislabels, and written as a report.
//
// Outputs (rank 0, atomically, into the directory `out`):
//   report.json  format "fathom.audit", format_version 1 (fields: README /
//                docs/drafts/audit.md)
//   report.html  the same, self-contained (inline SVG and CSS, no scripts or
//                external assets)
//   tokens.tsv   every tested token in byte order: token, n, then per label
//                count:<label>, then z:<label>, then pmi:<label>
//
// Memory per rank: the token table of its shard (see token_counts.h), never
// the corpus; rank 0 also holds every rank's serialized table while merging.
// When no cross-reference is given, records are read without their ids
// (CorpusOptions::id_field = ""), so duplicate-id detection's ~50 bytes per
// record are not spent either.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "fathom/audit/statistics.h"
#include "fathom/audit/token_counts.h"
#include "fathom/comm/communicator.h"
#include "fathom/data/corpus.h"

namespace fathom::audit {

struct AuditOptions {
  std::string corpus;
  data::CorpusOptions corpus_options;  // require_label is forced on: every counted record needs a label
  std::string field = "both";          // text | text_pair | both (union of the two segments' tokens)
  int ngrams = 1;                      // n-grams of 1..ngrams words (1 to 3)
  StatisticsOptions statistics;
  std::string model;                   // bundle directory: its tokenizer (fathom.json + vocab.txt); "" = words
  bool lowercase = true;               // word tokenization only
  // Cross-references (empty = not given). `cache`: a gradient cache built
  // with --target gold, whose per-example losses are one more mislabel
  // source ("loss"; cross_refs.h).
  std::string knn_suspects, self_influence, cache, triggers, truth;
  std::int64_t top = 20;               // tokens per label in the report
  std::int64_t artifacts = 50;         // likely artifacts listed
  std::int64_t suspects = 50;          // likely mislabels listed
  std::int64_t snippet = 300;          // characters of text kept per suspect (0 = all)
  std::string out;                     // output directory (created)
  bool progress = true;                // rank 0 prints rate and ETA (every 10 s off a terminal)
};

struct AuditSummary {
  std::int64_t examples = 0, skipped = 0, tokens = 0, tests = 0;
  double z_threshold = 0;
  std::int64_t significant = 0;        // (token, label) pairs above the threshold
  std::vector<std::string> labels;
  // Per label, the token with the largest z* ("" if none was tested).
  std::vector<std::string> top_token;
  std::int64_t mislabels = 0;
  double seconds = 0;
  std::int64_t peak_rss_bytes = 0;     // largest over ranks
  std::string report_json, report_html, tokens_tsv;
};

// COLLECTIVE. Every rank counts its shard; rank 0 merges, computes the
// statistics, reads the cross-references and writes the outputs. The summary
// is complete on rank 0 (other ranks: examples, seconds, peak_rss only).
// Throws UsageError for bad options (ngrams outside 1..3, unknown field,
// alpha/smoothing/min-count out of range), InputError naming file, line and
// field for bad input (a record without a label or without the field
// audited, fewer than two labels, a bad cross-reference or bundle).
AuditSummary run_audit(const AuditOptions& options, comm::Communicator& comm);

// The tokenization the audit counts with: basic words (lowercased unless
// options.lowercase is false) or, with options.model, the bundle's tokenizer
// (vocabulary tokens, unknown words as [UNK]). Throws InputError for a bad
// bundle.
using Tokenize = std::function<std::vector<std::string>(std::string_view)>;
Tokenize audit_tokenizer(const AuditOptions& options);

// Checks the options that do not need the corpus (UsageError).
void check_audit_options(const AuditOptions& options);

// Counts the records `rows` of the corpus (one shard) with `tokenize`.
// Texts of the records whose ids are in `wanted` are kept in `kept` (id ->
// {label, text, text_pair, line}); with `wanted` empty the records are read
// without ids (no duplicate-id table: memory independent of the rows). `on_records(n)` is called with the number
// of records looked at since the last call (progress). `skipped` receives the
// number of records skipped with --on-error skip.
struct KeptExample {
  std::string label, text, text_pair;
  std::int64_t line = 0;
};
TokenLabelCounts count_shard(const AuditOptions& options, data::Range rows, const Tokenize& tokenize,
                             const std::unordered_set<std::string>& wanted,
                             std::unordered_map<std::string, KeptExample>& kept,
                             const std::function<void(std::int64_t)>& on_records, std::int64_t& skipped);

// COLLECTIVE. Every rank's counts, merged on rank 0 with labels in the order
// of options.corpus_options.label_set, or sorted by name when that is empty
// (so the result does not depend on the number of ranks). Other ranks get an
// empty table. `mine` is consumed.
TokenLabelCounts merge_counts(TokenLabelCounts&& mine, const std::vector<std::string>& label_set,
                              comm::Communicator& comm);

}  // namespace fathom::audit
