#pragma once
// Self-influence and TracIn (METHODS.md §1.5, §4 "mislabel detection"):
// `fathom self-influence`. One call: options -> outputs.
//
// Scores, per training row z = (x, y) at its GOLD label y:
//   solver (influence):  self(z) = ∇L(z)ᵀ (H + λI)⁻¹ ∇L(z)
//   TracIn:              self(z) = Σ_k η_k ‖∇L(z; θ_k)‖²
// H is the mean training Hessian of the cross-entropy at gold labels on the
// cache's parameter list (training_hessian.h), λ the damping, θ_k the
// per-epoch checkpoints `fathom train` saved under <model>/checkpoints and
// η_k the learning rate of epoch k (checkpoint.h). ∇L(z) is recomputed from
// the model, unprojected (the cache's projection is not used: only its
// parameter list, and its rows/ids as the training corpus's). A high score
// = an example the model fits only by bending towards it — a mislabel
// candidate (Koh & Liang §5.4; Pruthi et al. 2020). No 1/n factor.
//
// TracIn for queries (queries + scores_out, TracIn only):
//   score(z_i, z_test) = Σ_k η_k ∇L(z_test; θ_k) · ∇L(z_i; θ_k)
// (z_test at `target`: its predicted label under the final model by default,
// as `fathom influence`/`fathom lds` do) — the first-order loss decrease of
// z_test from the steps on z_i: positive = proponent, fathom's convention.
// Written as a [Q, N] score matrix (score_matrix.h, method "tracin").
// Per checkpoint, each block of training gradients is computed ONCE and used
// for both the self scores and the query scores, and the queries' gradients
// are computed once per checkpoint and kept in memory for every block: no
// gradient is recomputed between the self and query passes.
//
// Distribution (COLLECTIVE: every rank calls with the same options):
//  - TracIn, and solvers whose apply is local (exact, arnoldi, ekfac:
//    InverseHvp::apply_is_local): rank r scores its contiguous shard of rows
//    (data::shard_range) in batches of `batch`; scores are gathered on rank 0.
//  - lissa, cg (apply is COLLECTIVE): every rank takes the same blocks of
//    `batch` rows and the solver runs ONE iterative solve per block (its HVPs
//    split over ranks) — about N / batch solves: expensive; a warning says so.
//  Results at any rank count equal one process up to rounding (the batches
//  differ, and all-reduce order for lissa/cg).
//
// Outputs (rank 0, atomically):
//   "<out>" JSONL, one line per training row ordered by descending score
//     (ties by ascending row), the first ceil(top_fraction · N) rows:
//     {"rank" (1 = highest), "id", "label", "score"[, "text"]}
//   "<out>.meta.json": format "fathom-self-influence-meta", method
//     ("influence:<solver>" | "tracin"), sign and meaning in words, solver
//     report or checkpoints (epoch, lr), parameter list and count, rows,
//     negative scores (possible for a non-convex H with small λ), timings.
//   scores_out: the TracIn query × train matrix.
// Resume (resume = true, the default): each rank saves its finished scores to
// "<out>.work/" after every `checkpoint_every_s` seconds; a rerun with the
// same settings, rank count and inputs continues from there. The directory is
// removed when the outputs are written.
#include <cstdint>
#include <string>

#include "fathom/attrib/inverse_hvp.h"
#include "fathom/data/corpus.h"

namespace fathom::comm {
class Communicator;
}

namespace fathom::attrib {

struct SelfInfluenceOptions {
  std::string model_dir;               // model bundle
  std::string cache;                   // gradient cache built from it: parameter list, rows
  std::string corpus;                  // training corpus; "" = the path the cache records
  data::CorpusOptions corpus_options;
  bool texts = false;                  // lines get "text" (set when --corpus is given)
  std::int64_t snippet_chars = 200;
  std::string out;                     // JSONL; "<out>.meta.json" beside it
  bool tracin = false;                 // TracIn over <model_dir>/checkpoints instead of a solver
  SolverOptions solver;                // when !tracin
  std::string queries;                 // TracIn only: query corpus for scores_out
  data::CorpusOptions query_options;
  std::string scores_out;              // TracIn only: [Q, N] matrix (needs queries)
  std::string target = "predicted";    // query loss at: predicted | gold | <label>
  double top_fraction = 1.0;           // share of rows written, (0, 1]
  std::string dtype = "float64";       // float64 | float32
  std::int64_t batch = 64;             // training rows per gradient batch (and per solve for lissa/cg)
  std::int64_t hessian_batch = 64;     // rows per double backward
  bool resume = true;
  double checkpoint_every_s = 30.0;    // resume: how often each rank saves its scores
  int threads = 0;
  double progress_period_s = 10.0;
};

struct SelfInfluenceResult {
  std::string method;                  // "influence:<solver>" | "tracin"
  std::int64_t rows = 0, dim = 0, written = 0, negative = 0, checkpoints = 0, queries = 0;
  std::int64_t resumed_rows = 0;       // rows (× checkpoints for TracIn) taken from a previous run
  double setup_seconds = 0, score_seconds = 0, seconds = 0;
  std::string meta_path;
};

// COLLECTIVE (see above). UsageError for bad options; InputError (nothing
// written) for inputs that do not fit together (influence.h step 1), no
// checkpoints for TracIn, an unlabelled training row.
SelfInfluenceResult self_influence(const SelfInfluenceOptions& options, comm::Communicator& comm);

}  // namespace fathom::attrib
