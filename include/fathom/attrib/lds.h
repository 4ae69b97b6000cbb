#pragma once
// Checking an attribution against retraining (docs/methods.md §9, METHODS.md
// §4): `fathom lds`.
//
// Linear datamodeling score (Park et al. 2023; the protocol of dattri and
// Kronfluence). For subsets S_1..S_M of the training rows (each `fraction`
// of them, drawn from a seed), retrain on each and record every query's
// actual value f_t(S_m): −loss (measure "loss") or the margin z_y − log Σ_{c≠y}
// exp z_c (measure "margin"), y the query's target label. The attribution
// predicts g_t(S_m) = Σ_{i∈S_m} τ(z_i, z_t) with τ = the score matrix (fathom's
// sign: τ > 0 = removing z_i would raise the test loss, so a subset rich in
// proponents gives a lower loss, a higher −loss and margin). LDS_t =
// Spearman(f_t(S_·), g_t(S_·)); LDS = the mean over queries, with a
// percentile bootstrap interval over queries.
//
// Leave-one-out (Koh & Liang 2017, Fig. 2): for each query its top-K
// proponents and top-K opponents by score; retrain without each of those rows
// (head retraining) and compare the actual change of the query's loss,
// L_t(θ_{-i}) − L_t(θ), with the score τ(z_i, z_t) (Pearson).
//
// Retraining:
//  * head: the last layer alone, the convex problem of representer_head.h
//    ((1/|S|) Σ_{i∈S} CE(W f_i + b, y_i) + λ‖W‖²) on frozen features f_i computed
//    once by the model (query_features.h), L-BFGS in float64 to the gradient
//    tolerance, started from the head fitted on all rows (itself started from
//    the model's classifier). Query values use the queries' frozen features.
//  * full: the whole built-in model trained from scratch on the subset with
//    the recipe of the bundle's newest checkpoint (model/train.h: the same
//    architecture, sizes, optimizer, seed, epochs; the bundle's vocab.txt and
//    labels), then the queries' logits of the retrained model.
//
// Distribution and determinism: retrainings are independent jobs; pending
// jobs are dealt round-robin to the ranks, each rank fits its jobs alone
// (a local communicator; head fits are plain float64 loops), and the results
// are summed over ranks where exactly one rank contributes each value. So
// the numbers are the same at any rank count (full retraining: up to torch's
// thread-dependent float summation).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "fathom/attrib/representer_head.h"
#include "fathom/data/corpus.h"

namespace fathom::comm {
class Communicator;
}

namespace fathom::attrib {

// ---- statistics (pure; any rank) ----
// (namespace stats: attrib has other correlation helpers; these are the
// ones with a size check and exposed ranks.)
namespace stats {

// Ranks 1..n with ties given their average rank.
std::vector<double> average_ranks(const std::vector<double>& x);
// Pearson correlation; nullopt for fewer than 2 values or a constant side.
// UsageError when the sizes differ.
std::optional<double> pearson(const std::vector<double>& a, const std::vector<double>& b);
// Spearman = Pearson of the average ranks (ties handled as above).
std::optional<double> spearman(const std::vector<double>& a, const std::vector<double>& b);

struct Interval {
  double low = 0, high = 0;
};
// Percentile bootstrap interval of the mean of `values` at `level`: `resamples`
// resamples with replacement drawn with std::mt19937_64(seed) (bounded by
// rejection: portable across standard libraries). UsageError for an
// empty `values` or resamples < 1.
Interval bootstrap_mean_interval(const std::vector<double>& values, std::int64_t resamples, std::uint64_t seed,
                                 double level = 0.95);

}  // namespace stats

// ---- subsets ----

// round(fraction * n); UsageError unless 0 < fraction < 1 and 1 <= size <= n-1.
std::int64_t subset_size(std::int64_t n, double fraction);
// Subset m (0-based) of [0, n): the first subset_size(n, fraction) entries of
// model::epoch_permutation(n, seed, m + 1), sorted. Depends only on (n,
// fraction, seed, m): platform- and rank-count-independent.
std::vector<std::int64_t> draw_subset(std::int64_t n, double fraction, std::uint64_t seed, std::int64_t m);

// ---- head retraining on frozen features (any rank, local) ----

struct FrozenHead {
  std::int64_t rows = 0, dim = 0, classes = 0;
  std::vector<float> features;       // [rows * dim]
  std::vector<std::int64_t> labels;  // [rows], every one in [0, classes)
  double lambda = 0;                 // λ of λ‖W‖²
};

struct HeadRefit {
  Head head;
  bool converged = false;
  double gradient_norm = 0;
  std::int64_t iterations = 0;
  std::string stop_reason;
};

// ANY RANK, no communication: fit_head on the rows `rows` (any order, no
// repeats) of `data` from `start`. UsageError for an empty `rows` or a row
// out of range.
HeadRefit refit_head(const FrozenHead& data, const std::vector<std::int64_t>& rows, const Head& start,
                     const FitOptions& fit);

// The values of queries at a head: logits z = W f + b of features [Q * dim],
// neg_loss[q] = z_y − logsumexp(z), margin[q] = z_y − logsumexp_{c≠y}(z_c),
// y = targets[q] (in [0, C)).
struct QueryValues {
  std::vector<double> neg_loss, margin;
};
QueryValues values_at_head(const Head& head, const std::vector<float>& features, const std::vector<std::int64_t>& targets);
// The same from logits [Q * C] (full retraining).
QueryValues values_from_logits(const std::vector<double>& logits, std::int64_t classes,
                               const std::vector<std::int64_t>& targets);

// ---- the score ----

struct LdsStatistics {
  std::vector<std::optional<double>> per_query;  // Spearman; nullopt where undefined (constant side)
  std::int64_t defined = 0;                      // queries with a value
  std::optional<double> mean;                    // over the defined ones
  stats::Interval interval;                      // bootstrap over the defined ones
};
// actual [M * Q] (subset-major), scores [Q * N] (row-major, float32 as in the
// score matrix), subsets: M lists of rows in [0, N). predicted[m][q] =
// Σ_{i∈S_m} scores[q][i] in float64. UsageError for inconsistent sizes.
LdsStatistics lds_statistics(const std::vector<double>& actual, const std::vector<float>& scores, std::int64_t queries,
                             std::int64_t rows, const std::vector<std::vector<std::int64_t>>& subsets,
                             std::int64_t resamples, std::uint64_t seed);

// ---- distributing jobs ----

// COLLECTIVE. Results [count * width] of jobs 0..count-1 on every rank.
// known[m] (the same on every rank; size 0 or count) holds results of jobs
// done earlier (resume; empty vector = pending). Pending jobs are dealt
// round-robin to the ranks; run(m) on the rank that owns job m returns its
// `width` values (and may save them). A failure on any rank is raised on
// every rank. `on_progress` (optional) is called after each job this rank runs.
std::vector<double> run_jobs(std::int64_t count, std::int64_t width, const std::vector<std::vector<double>>& known,
                             const std::function<std::vector<double>(std::int64_t)>& run,
                             const std::function<void()>& on_progress, comm::Communicator& comm);

// ---- `fathom lds` ----

struct LdsOptions {
  std::string model_dir;               // bundle the scores were computed for
  std::string corpus;                  // training corpus (must hold every train id of the scores)
  data::CorpusOptions corpus_options;
  std::string queries;                 // query corpus (must hold every query id of the scores)
  data::CorpusOptions query_options;
  std::string scores;                  // score matrix (score_matrix.h)
  std::string out;                     // lds.json; "<out>.work/" keeps finished retrainings (resume)
  std::int64_t subsets = 100;
  double fraction = 0.5;
  std::string retrain = "head";        // head | full
  std::string measure = "loss";        // loss (−loss) | margin
  std::string target = "predicted";    // predicted (by the model) | gold
  std::uint64_t seed = 0;              // subsets and bootstrap
  std::int64_t loo = 0;                // K; 0 = no leave-one-out check
  std::optional<double> lambda;        // head: unset = training l2_last, else kDefaultLambda
  double tolerance = 1e-6;             // head fits of the subsets (‖∇‖₂)
  double loo_tolerance = 1e-9;         // head fits for leave-one-out (and the all-rows fit then)
  std::int64_t max_iterations = 1000;  // L-BFGS iterations per fit
  std::int64_t bootstrap = 1000;       // resamples of the interval
  std::int64_t batch = 64;             // forward batch for features
  int threads = 0;                     // torch threads per rank; 0 = cores / local ranks
  bool resume = true;                  // reuse "<out>.work/" results of the same settings
};

struct LdsResult {
  LdsStatistics lds;
  std::int64_t queries = 0, train_rows = 0, subset_size = 0;
  std::int64_t resumed_subsets = 0;
  std::optional<double> loo_pearson;        // pooled over every (query, row) pair
  std::optional<double> loo_mean_pearson;   // mean of the per-query values
  std::int64_t loo_pairs = 0, loo_fits = 0;
  double lambda = 0;
  std::string lambda_source;
  std::int64_t unconverged_fits = 0;
  double seconds = 0;
};

// COLLECTIVE (see above). Writes `out` (rank 0, atomically); format in
// docs/drafts/lds.md and `fathom lds --help`. UsageError for bad options,
// InputError for unreadable or inconsistent inputs (nothing written).
LdsResult lds(const LdsOptions& options, comm::Communicator& comm);

}  // namespace fathom::attrib
