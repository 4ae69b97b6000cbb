#pragma once
// Per-request, NON-collective lookups for a server (`fathom serve`): the k
// nearest training rows of one example (as `fathom knn`) and its top
// proponents/opponents by influence (as `fathom influence`, full scan). Each
// is built once at start-up over its own local (single-process)
// communicator, so no call here talks to other ranks; the answers are the
// same numbers the batch commands write for the same example.
//
// Answers are JSON objects (the server sends them as they are):
//   KnnLookup::lookup       {"prediction", "probs", "conformity", "neighbors":
//                            [{"id", "label", "distance"[, "text"]}, ...]}   (knn.h)
//   InfluenceLookup::lookup {"prediction", "target", "loss",
//                            "proponents": [{"id", "label", "score", "text"}, ...],  descending score
//                            "opponents":  [{"id", "label", "score", "text"}, ...]}  ascending score
// with the sign convention of influence.h (positive = the training row
// supports the prediction at the target label).
//
// Thread safety: both classes may be called from any number of threads at
// once. KnnLookup computes the features with the caller's bundle (which the
// caller must hold exclusively for the call, e.g. a server worker's model)
// and serialises only the index search; InfluenceLookup owns one float64
// model copy and serialises whole lookups with a mutex (a lookup is one
// forward/backward, one solver apply and one scan of the cache).
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>

#include "fathom/attrib/influence.h"
#include "fathom/attrib/knn.h"
#include "fathom/data/example.h"
#include "fathom/model/bundle.h"

namespace fathom::attrib {

class KnnLookup {
 public:
  // Opens the index (sources.index, a features index), the cache
  // (sources.cache, "" = the manifest's), the ids/labels and, with
  // sources.corpus, the training texts; `out` and `k` are not used.
  // InputError naming the file for an index not over /features, an index of
  // another cache, a cache of another model or an incomplete one, a corpus
  // whose records are not the cache's rows, an index whose width is not the
  // model's features.
  explicit KnnLookup(const KnnSources& sources);
  ~KnnLookup();
  KnnLookup(const KnnLookup&) = delete;
  KnnLookup& operator=(const KnnLookup&) = delete;

  std::int64_t rows() const;     // training rows (the largest k)
  bool has_texts() const;        // neighbours carry "text"
  const std::string& cache_path() const;

  // The k (1 <= k <= rows()) nearest training rows of `example` by the
  // features of `bundle` (the bundle the index's cache was built from, in
  // float32 eval mode). UsageError for k out of range.
  nlohmann::ordered_json lookup(model::Bundle& bundle, const data::Example& example, std::int64_t k) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct InfluenceLookupOptions {
  std::string model_dir;
  std::string cache;                    // gradient cache (`fathom cache --target gold`)
  std::string corpus;                   // training corpus; "" = the path the cache records
  data::CorpusOptions corpus_options;
  std::int64_t snippet_chars = 200;     // 0 = whole texts
  // solver.solver: "" = auto ("exact" when the parameter count is at most
  // max_exact_dim, else "arnoldi"); only solvers whose apply() is local
  // (exact, arnoldi, ekfac) serve: lissa and cg are refused (UsageError).
  SolverOptions solver;
  std::int64_t hessian_batch = 512;
  std::size_t memory_budget = std::size_t(64) << 20;  // per cache row block of a scan
  int threads = 0;                      // unused here; the caller configures torch threads
};

class InfluenceLookup {
 public:
  // Loads and checks the model (as float64), cache and corpus exactly as
  // `fathom influence` does (InputError naming the file) and sets the solver
  // up (the expensive part: H for exact, eigenpairs for arnoldi, factors for
  // ekfac).
  explicit InfluenceLookup(const InfluenceLookupOptions& options);
  ~InfluenceLookup();
  InfluenceLookup(const InfluenceLookup&) = delete;
  InfluenceLookup& operator=(const InfluenceLookup&) = delete;

  std::int64_t rows() const;
  std::string solver_name() const;
  std::int64_t param_count() const;

  // Top `top` (1 <= top <= rows()) proponents and opponents of `example`,
  // the test loss taken at `target`: "predicted" or a label of the model
  // (UsageError otherwise, and for top out of range).
  nlohmann::ordered_json lookup(const data::Example& example, std::int64_t top,
                                const std::string& target = "predicted") const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fathom::attrib
