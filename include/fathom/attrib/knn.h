#pragma once
// kNN interpretation, conformity and mislabel candidates (`fathom knn`,
// docs/methods.md §8-9) over a FAISS index of a cache's /features
// (`fathom index --field features`).
//
// knn(): each query record (a corpus file) goes through the model (the
// features `fathom cache` stores, attrib/query_features.h); its k nearest
// training rows come from a distributed search of the index
// (index::ShardedIndex, exact merge). Output, one JSON line per query in input
// order:
//   {"id", "prediction" (label name), "probs" {label: p} (bundle label order,
//    6 significant digits), "conformity",
//    "neighbors": [{"id", "label", "distance", "text"}]}   (nearest first)
// audit(): every training row's cached feature row is a query; the row itself
// is dropped from its k+1 nearest (by row) and the first k are kept. Output,
// one line per labelled training row, ranked:
//   {"rank" (1 = most suspicious), "id", "label", "disagreement", "neighbors": [...]}
// ordered by disagreement (largest first), ties by cache row.
//
// Definitions (n = neighbours found, k unless an approximate index returns
// fewer; rows with no label have label null):
//   conformity   = #(neighbour label == predicted label) / n
//   disagreement = #(neighbour label != own label) / n   (an unlabelled
//                  neighbour disagrees; unlabelled training rows are skipped)
//   either is null when n == 0.
//   distance: what the index's metric gives: l2 = squared Euclidean distance
//   (smaller is nearer), ip = inner product, cosine = cosine similarity
//   (larger is nearer); printed as the float the search returned.
//   text: only with a training corpus (`corpus`): the record's text (and
//   " [SEP] " + text_pair for pairs), cut to snippet_chars code points with
//   "..." appended (0 = whole text). Row i of the cache is record i of the
//   corpus; the ids must match.
// Besides `out`, "<out>.meta.json": {"format": "fathom-knn-meta",
//   "format_version": 1, "mode": "knn"|"audit", "model_dir", "index", "cache",
//   "corpus" (null without), "queries" (knn) , "k", "metric", "spec", "n",
//   "mean_conformity" (knn) | "labelled", "mean_disagreement" (audit),
//   "seconds", "ranks"}.
//
// Both are COLLECTIVE. Everything is validated before anything is written
// (exit 2, nothing written, an existing output left as it was):
//   k <= 0, k > rows (knn) or k > rows - 1 (audit)  -> UsageError
//   an index of another cache (index::check_same_cache), an index over
//   another field than features, a model the cache was not built from
//   (grads::check_cache_model), an incomplete cache, a corpus whose record
//   count or ids differ from the cache's /ids (naming the first mismatch),
//   a bad query corpus                                 -> InputError
// Outputs are written by rank 0 only, atomically (write, then rename).
// Work: every rank parses the whole query file (cheap next to the forward)
// and computes its share of each block's batches; the search is collective.
// Memory: knn holds one block of queries (block_queries) and its results;
// audit holds one block of feature rows on every rank, and on rank 0 each
// labelled row's verdict (24 bytes), the neighbours it writes (N x
// neighbors_written x 12 bytes; none for `fathom audit`), the cache ids, and
// the corpus snippets when a corpus is given.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "fathom/data/corpus.h"

namespace fathom::comm {
class Communicator;
}

namespace fathom::attrib {

// What both modes share.
struct KnnSources {
  std::string model_dir;             // model bundle the cache was built from (audit: optional, "" = no check)
  std::string index;                 // index manifest (`fathom index --out`)
  std::string cache;                 // "" = the manifest's cache_path
  std::string corpus;                // training corpus for texts ("" = no texts)
  data::CorpusOptions corpus_options;  // how to read `corpus`
  std::int64_t k = 10;
  std::int64_t nprobe = 0;           // > 0 overrides the manifest's nprobe (IVF)
  std::int64_t snippet_chars = 200;  // 0 = whole texts
  std::string out;                   // JSONL output; "<out>.meta.json" beside it
  int threads = 0;                   // torch threads per rank; 0 = cores / local ranks
  double progress_period_s = 10.0;
};

struct KnnOptions : KnnSources {
  std::string queries;               // query corpus (jsonl/tsv/csv); labels ignored
  data::CorpusOptions query_options;
  std::int64_t batch = 64;           // forward batch (records)
  std::int64_t block_queries = 4096; // queries per search block
};

struct KnnResult {
  std::int64_t queries = 0;
  std::optional<double> mean_conformity;  // over queries with >= 1 neighbour
  double seconds = 0;
};

KnnResult knn(const KnnOptions& options, comm::Communicator& comm);

struct AuditOptions : KnnSources {
  std::size_t memory_budget_bytes = std::size_t(64) << 20;  // per rank, for one block of feature rows
  // Neighbours written per line (nearest first); -1 = all k. `fathom audit`
  // writes none: it needs the disagreements only, and at 1M rows the k
  // neighbour lists are ~0.7 GB of JSON to write and parse again.
  std::int64_t neighbors_written = -1;
};

struct AuditResult {
  std::int64_t rows = 0;       // training rows
  std::int64_t labelled = 0;   // rows ranked (with a label)
  std::optional<double> mean_disagreement;
  double seconds = 0;
};

AuditResult audit(const AuditOptions& options, comm::Communicator& comm);

}  // namespace fathom::attrib
