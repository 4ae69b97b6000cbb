#pragma once
// Private to the attrib module: the parts lds() (lds.h) is made of, so each
// file has one job: inputs and full retraining (lds_inputs.cpp),
// leave-one-out (lds_loo.cpp), the driver (lds.cpp).
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fathom/attrib/lds.h"
#include "fathom/attrib/score_matrix.h"
#include "fathom/model/bundle.h"
#include "fathom/model/train.h"

namespace fathom::attrib::detail {

// Everything lds() reads, checked (ANY RANK: each rank reads on its own).
struct LdsInputs {
  model::Bundle bundle;
  ScoreMatrix scores;
  std::vector<data::Example> train_examples;  // in score-matrix column order
  std::vector<std::int64_t> train_labels;     // their label indices
  std::vector<data::Example> query_examples;  // in score-matrix row order
  std::int64_t unused_train_records = 0;      // corpus records the scores do not name
  std::string corpus_sha256, queries_sha256;
  double training_l2_last = 0;                // 0 when unknown
  std::optional<model::TrainOptions> recipe;  // the newest checkpoint's recipe (builtin bundles)
};

// Throws InputError for unreadable or inconsistent inputs.
LdsInputs load_lds_inputs(const LdsOptions& o);

// Full retraining of subset m with the bundle's recipe, on this rank alone.
class FullRetrainer {
 public:
  // UsageError when the bundle has no recipe (not built-in, or no checkpoints).
  FullRetrainer(const LdsInputs& in, const LdsOptions& o, std::string work_dir);
  // The queries' logits [Q * C] of the model trained on `rows`.
  std::vector<double> logits(std::int64_t m, const std::vector<std::int64_t>& rows);

 private:
  const LdsInputs* in_;
  const LdsOptions* o_;
  std::string work_;
};

// Leave-one-out: the distinct training rows to remove and, per query, its
// pairs (index into rows, score).
struct LooPlan {
  std::vector<std::int64_t> rows;  // ascending
  struct Pair {
    std::int64_t job = 0;          // index into rows
    double score = 0;
    bool proponent = true;
  };
  std::vector<std::vector<Pair>> pairs;  // [Q]
};
// Top-k proponents (largest scores) and top-k opponents (smallest, among the
// rest) of every query.
LooPlan plan_loo(const ScoreMatrix& scores, std::int64_t k);

struct LooStatistics {
  std::vector<std::optional<double>> per_query;
  std::optional<double> pooled, mean;
  std::int64_t pairs = 0;
};
// results [rows.size() * width] (neg_loss of every query first); actual
// change = L_t(θ_{-i}) − L_t(θ) = full_neg_loss[t] − neg_loss_{-i}[t].
LooStatistics loo_statistics(const LooPlan& plan, const std::vector<double>& results, std::int64_t width,
                             const std::vector<double>& full_neg_loss, const ScoreMatrix& scores);
nlohmann::ordered_json loo_json(const LooPlan& plan, const std::vector<double>& results, std::int64_t width,
                                const std::vector<double>& full_neg_loss, const ScoreMatrix& scores,
                                const LooStatistics& stats);

}  // namespace fathom::attrib::detail
