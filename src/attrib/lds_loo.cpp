// Leave-one-out for `fathom lds --loo K` (lds_internal.h).
#include <algorithm>
#include <numeric>

#include "fathom/core/error.h"
#include "lds_internal.h"

namespace fathom::attrib::detail {
namespace {

double actual_change(const LooPlan::Pair& p, std::size_t q, const std::vector<double>& results, std::int64_t width,
                     const std::vector<double>& full_neg_loss) {
  return full_neg_loss[q] - results[std::size_t(p.job * width) + q];
}

}  // namespace

LooPlan plan_loo(const ScoreMatrix& scores, std::int64_t k) {
  const std::int64_t Q = std::int64_t(scores.query_ids.size()), N = std::int64_t(scores.train_ids.size());
  if (k < 1) throw UsageError("lds: --loo must be >= 1");
  LooPlan plan;
  std::vector<std::vector<std::pair<std::int64_t, bool>>> chosen(static_cast<std::size_t>(Q));
  std::vector<std::int64_t> order(static_cast<std::size_t>(N));
  for (std::int64_t q = 0; q < Q; ++q) {
    std::iota(order.begin(), order.end(), 0);
    // Descending score, ties by row: a fixed choice.
    std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return scores.at(q, a) > scores.at(q, b); });
    const std::int64_t top = std::min(k, N);
    const std::int64_t bottom = std::min(k, N - top);
    for (std::int64_t j = 0; j < top; ++j) chosen[std::size_t(q)].push_back({order[std::size_t(j)], true});
    for (std::int64_t j = 0; j < bottom; ++j) chosen[std::size_t(q)].push_back({order[std::size_t(N - 1 - j)], false});
    for (const auto& c : chosen[std::size_t(q)]) plan.rows.push_back(c.first);
  }
  std::sort(plan.rows.begin(), plan.rows.end());
  plan.rows.erase(std::unique(plan.rows.begin(), plan.rows.end()), plan.rows.end());
  plan.pairs.resize(static_cast<std::size_t>(Q));
  for (std::int64_t q = 0; q < Q; ++q)
    for (const auto& [row, proponent] : chosen[std::size_t(q)]) {
      const std::int64_t job = std::lower_bound(plan.rows.begin(), plan.rows.end(), row) - plan.rows.begin();
      plan.pairs[std::size_t(q)].push_back({job, double(scores.at(q, row)), proponent});
    }
  return plan;
}

LooStatistics loo_statistics(const LooPlan& plan, const std::vector<double>& results, std::int64_t width,
                             const std::vector<double>& full_neg_loss, const ScoreMatrix& scores) {
  (void)scores;
  LooStatistics s;
  std::vector<double> all_pred, all_act;
  std::vector<double> defined;
  for (std::size_t q = 0; q < plan.pairs.size(); ++q) {
    std::vector<double> pred, act;
    for (const auto& p : plan.pairs[q]) {
      pred.push_back(p.score);
      act.push_back(actual_change(p, q, results, width, full_neg_loss));
    }
    s.per_query.push_back(stats::pearson(pred, act));
    if (s.per_query.back()) defined.push_back(*s.per_query.back());
    all_pred.insert(all_pred.end(), pred.begin(), pred.end());
    all_act.insert(all_act.end(), act.begin(), act.end());
  }
  s.pairs = std::int64_t(all_pred.size());
  s.pooled = stats::pearson(all_pred, all_act);
  if (!defined.empty()) s.mean = std::accumulate(defined.begin(), defined.end(), 0.0) / double(defined.size());
  return s;
}

nlohmann::ordered_json loo_json(const LooPlan& plan, const std::vector<double>& results, std::int64_t width,
                                const std::vector<double>& full_neg_loss, const ScoreMatrix& scores,
                                const LooStatistics& stats) {
  using json = nlohmann::ordered_json;
  auto number = [](const std::optional<double>& v) { return v ? json(*v) : json(); };
  json per_query = json::array();
  for (std::size_t q = 0; q < plan.pairs.size(); ++q) {
    json pairs = json::array();
    for (const auto& p : plan.pairs[q])
      pairs.push_back({{"train_id", scores.train_ids[std::size_t(plan.rows[std::size_t(p.job)])]},
                       {"kind", p.proponent ? "proponent" : "opponent"},
                       {"predicted", p.score},
                       {"actual", actual_change(p, q, results, width, full_neg_loss)}});
    per_query.push_back({{"id", scores.query_ids[q]}, {"pearson", number(stats.per_query[q])}, {"pairs", pairs}});
  }
  return json{{"fits", std::int64_t(plan.rows.size())},
              {"pairs", stats.pairs},
              {"pearson_pooled", number(stats.pooled)},
              {"pearson_mean", number(stats.mean)},
              {"actual", "loss of the query without the training example minus with it (head retraining)"},
              {"per_query", per_query}};
}

}  // namespace fathom::attrib::detail
