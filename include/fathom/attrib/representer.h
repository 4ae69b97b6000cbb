#pragma once
// Representer points (Yeh et al. 2018; docs/methods.md §7): `fathom
// representer`. One call: options -> outputs.
//
// What representer() does (COLLECTIVE: every rank calls it with the same options):
//  1. Checks everything before anything is written (exit 2, nothing written):
//     options (top >= 1, lambda > 0, tolerance > 0, ...) -> UsageError; a
//     cache that is incomplete, not a gradient cache, built from another
//     model (grads::check_cache_model), with other labels than the bundle or
//     /features of another width than the model's hidden_dim; top > rows; a
//     query corpus that cannot be read -> InputError.
//  2. λ: options.lambda if set; else the l2_last the bundle was trained with
//     (the newest checkpoint's config under <model>/checkpoints, `fathom train
//     --l2-last`) when > 0; else kDefaultLambda. The source is reported.
//  3. Stationarity: the gradient of (1/n) Σ_i CE(W f_i + b, y_i) + λ‖W‖² over
//     the cache's /features and /labels at the model's classifier.weight W
//     [C,H] and classifier.bias b (representer_head.h; distributed over
//     ranks, the same numbers at any rank count). If its norm is above
//     `tolerance`, the head is fitted (L-BFGS from the model's head, float64)
//     until it is within tolerance, and saved as "<out>.head.json".
//  4. α_i = (e_{y_i} − p_i)/(2λn) at the (fitted) head for every cache row
//     (0 for rows without a label), written to "<out>.alpha.h5" (a fathom
//     cache file: /ids str [N], /representer_alpha f32 [N,C], attributes
//     kind "representer_alpha", lambda, labels, cache_path, cache_identity,
//     model_sha256, labelled, head_fitted, gradient_norm). The gradient
//     cache itself is never modified (the store API only writes new files).
//  5. Queries: features by the model's forward (attrib/query_features.h);
//     prediction c = argmax of the (fitted) head's logits W f_t + b; the top
//     excitatory and inhibitory training rows for class c
//     (representer_search.h: FAISS maximum inner product, exact merge).
//
// Output "<out>" (JSONL, one line per good query record, input order):
//   {"id", "prediction" (label name),
//    "excitatory": [{"id", "label", "value"[, "text"]}, ...]   (largest value first;
//                   "text" only with a training corpus, as in `fathom knn`)
//    "inhibitory": [{"id", "label", "value"}, ...]}  (smallest value first)
// value = α_ic f_iᵀ f_t, rounded to 6 significant digits; label = the
// training row's gold label name (null without one). Lists have `top` entries.
// "<out>.meta.json": {"format": "fathom-representer-meta", "format_version": 1,
//   "model_dir", "cache", "queries", "labels", "lambda", "lambda_source",
//   "rows", "labelled", "n_queries", "top",
//   "fit": {"tolerance", "gradient_norm_before", "gradient_norm_after",
//           "objective_before", "objective_after", "fitted", "converged",
//           "iterations", "evaluations", "stop_reason", "head" (path or null)},
//   "alpha": {"file", "dataset"},
//   "reproduction": {"pearson", "max_abs_error",      (Σ_i α_i f_iᵀ f_t + b vs
//                                                       the (fitted) head's logits)
//                    "model_logits": {"pearson", "max_abs_error"}}  (vs the
//                                                       model's own logits)
//   "seconds", "ranks"}; pearson is null for fewer than 2 values or no variance.
// Files are written by rank 0 (atomically), except the α file (every rank
// writes its rows, store::CacheWriter).
//
// Memory per rank: its share of /features (rows/ranks * H floats) and α
// (rows/ranks * C doubles), one class's FAISS index (rows/ranks * H floats),
// one block of queries; rank 0 also holds the output text.
#include <cstdint>
#include <optional>
#include <string>

#include "fathom/data/corpus.h"

namespace fathom::comm {
class Communicator;
}

namespace fathom::attrib {

// λ when neither --lambda nor the training's --l2-last gives one.
inline constexpr double kDefaultLambda = 1e-3;

struct RepresenterOptions {
  std::string model_dir;               // model bundle
  std::string cache;                   // gradient cache built from it (`fathom cache`; /features, /labels)
  std::string queries;                 // query corpus (jsonl/tsv/csv); labels ignored
  data::CorpusOptions query_options;
  std::string out;                     // JSONL; "<out>.meta.json", "<out>.alpha.h5", "<out>.head.json" beside it
  std::string corpus;                  // training corpus the cache was built from: entries get "text" ("" = none)
  data::CorpusOptions corpus_options;  // how to read `corpus`
  std::int64_t snippet_chars = 200;    // texts cut to this many code points (0 = whole texts)
  std::optional<double> lambda;        // unset: training l2_last, else kDefaultLambda
  std::int64_t top = 10;               // entries per list
  double tolerance = 1e-6;             // on ‖∇(W,b)‖₂ of the objective
  std::int64_t max_iterations = 1000;  // L-BFGS iterations
  std::int64_t batch = 64;             // query forward batch (records)
  std::int64_t block_queries = 4096;   // queries per search block
  int threads = 0;                     // torch threads per rank; 0 = cores / local ranks
};

struct RepresenterResult {
  double lambda = 0;
  std::string lambda_source;           // "--lambda" | "training --l2-last" | "default"
  std::int64_t rows = 0, labelled = 0, queries = 0;
  bool fitted = false, converged = false;
  std::int64_t iterations = 0;
  double gradient_norm_before = 0, gradient_norm_after = 0;
  std::optional<double> pearson;       // reconstruction vs the (fitted) head's logits
  double max_abs_error = 0;
  std::optional<double> model_pearson; // reconstruction vs the model's own logits
  double model_max_abs_error = 0;
  std::string alpha_path, head_path, meta_path;  // head_path empty when not fitted
  double seconds = 0;
};

// COLLECTIVE (see above).
RepresenterResult representer(const RepresenterOptions& options, comm::Communicator& comm);

}  // namespace fathom::attrib
