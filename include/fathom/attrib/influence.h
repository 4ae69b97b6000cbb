#pragma once
// Influence functions over a gradient cache (Koh & Liang 2017; FastIF, Guo et
// al. 2021): `fathom influence`. One call: options -> outputs.
//
// Sign convention (docs/methods.md §4):
//   score(z_i, z_test) = ∇L(z_test)ᵀ (H + λI)⁻¹ ∇L(z_i) / n
// = the predicted INCREASE of the test loss if z_i were removed from the
// training set. Positive: z_i supports the test prediction (a proponent);
// negative: it opposes it (an opponent). H is the mean training Hessian of
// the cross-entropy at gold labels on the cache's parameter list, λ the
// damping, n the cache's row count. ∇L(z_i) is the cache's /gradients row
// (projected by the cache's projection P, if any); s_test = (H + λI)⁻¹
// ∇L(z_test) is computed unprojected, then projected by the same P (same
// kind, dim and seed), so PᵀP's expectation I keeps the score unbiased.
//
// What influence() does (COLLECTIVE: every rank calls it with the same options):
//  1. Checks before anything is written (exit 2, nothing written): options
//     (UsageError); a cache that is incomplete, not a gradient cache, built
//     from another model, whose parameter list or projection this model
//     cannot reproduce; a training corpus (default: the one the cache
//     records) whose records are not the cache's rows; a query corpus that
//     cannot be read or has labels the model does not know (InputError).
//  2. Per block of `query_batch` queries: ∇L(z_test) at the target label
//     (predicted by default) by one batched forward/backward; s_test for all
//     of them by the solver (inverse_hvp.h; distributed HVPs); scores against
//     every cache row, each rank streaming its share of /gradients in row
//     blocks (one GEMM per block), top `top` proponents and opponents merged
//     exactly across ranks (index/top_k.h order; ties by ascending row).
//     With candidates = "knn:K" (FastIF) only candidate rows are scored,
//     each rank scoring its share of the queries. The index decides which:
//     over /features (`fathom index --field features`, FastIF proper) the K
//     nearest training rows of each query in feature space; over /gradients
//     with the inner-product metric (`fathom index --field gradients
//     --metric ip`) the K rows of largest s·g and the K of smallest, i.e. the
//     top lists themselves when the index is Flat (maximum inner-product
//     search) and an approximation for IVF/HNSW.
//  3. Outputs, written by rank 0 atomically:
//     "<out>" JSONL, one line per query record (input order):
//       {"id", "prediction", "target", "loss",
//        "proponents": [{"id", "label", "score"[, "text"]}, ...]  (descending score)
//        "opponents":  [{"id", "label", "score"[, "text"]}, ...]} (ascending score)
//     "<out>.meta.json": format "fathom-influence-meta", the sign convention in
//       words, solver report (settings, λ_max, scale, iterations, ...),
//       parameter list and count, projection, candidates, FastIF recall of
//       the restricted top lists against a full scan on a sample of queries,
//       timings, ranks.
//     scores_out (optional): the full query × train matrix (score_matrix.h);
//       with knn candidates, rows hold NaN where a training row was not a
//       candidate.
//
// Memory per rank: the training corpus (for HVP mini-batches), one block of
// queries' s_test ([query_batch, P] doubles), one row block of the cache
// (memory_budget), and with scores_out rank 0 holds the [Q, N] matrix.
#include <cstdint>
#include <optional>
#include <string>

#include "fathom/attrib/inverse_hvp.h"
#include "fathom/data/corpus.h"

namespace fathom::comm {
class Communicator;
}

namespace fathom::attrib {

struct InfluenceOptions {
  std::string model_dir;               // model bundle
  std::string cache;                   // gradient cache built from it (`fathom cache`)
  std::string queries;                 // query corpus (jsonl/tsv/csv)
  data::CorpusOptions query_options;
  std::string out;                     // JSONL; "<out>.meta.json" beside it
  std::string corpus;                  // training corpus; "" = the path the cache records
  data::CorpusOptions corpus_options;
  bool texts = false;                  // entries get "text" (set when --corpus is given)
  std::int64_t snippet_chars = 200;
  SolverOptions solver;
  std::string candidates = "all";      // all | knn:K (with `index`: over features, or gradients with ip)
  std::string index;                   // features index for knn:K
  std::int64_t recall_queries = 20;    // FastIF: queries re-scored by a full scan for the recall estimate
  std::int64_t top = 20;
  std::string target = "predicted";    // predicted | gold | <label name>
  std::string scores_out;              // optional [Q, N] matrix file
  std::string dtype = "float64";       // model dtype for gradients and HVPs: float64 | float32
  std::int64_t query_batch = 32;       // queries solved and scored together
  std::int64_t hessian_batch = 512;    // rows per double backward (per rank)
  std::size_t memory_budget = std::size_t(256) << 20;  // per cache row block
  int threads = 0;
  double progress_period_s = 10.0;
};

struct InfluenceResult {
  std::int64_t queries = 0, rows = 0, dim = 0, stored_dim = 0;
  std::optional<double> recall_proponents, recall_opponents;  // FastIF only
  double solve_seconds = 0, score_seconds = 0, seconds = 0;
  std::string meta_path;
};

// COLLECTIVE (see above).
InfluenceResult influence(const InfluenceOptions& options, comm::Communicator& comm);

}  // namespace fathom::attrib
