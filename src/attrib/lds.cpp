// `fathom lds` as one library call (lds.h): inputs, frozen features, the
// retraining jobs (with resume), the score, leave-one-out, lds.json.
#include "fathom/attrib/lds.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <numeric>

#include "fathom/attrib/query_features.h"
#include "fathom/attrib/representer.h"
#include "fathom/attrib/score_matrix.h"
#include "fathom/comm/collective_check.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"
#include "fathom/core/hash.h"
#include "fathom/core/log.h"
#include "fathom/core/progress.h"
#include "fathom/model/bundle.h"
#include "fathom/model/checkpoint.h"
#include "fathom/model/model.h"
#include "lds_internal.h"
#include "representer_internal.h"

namespace fathom::attrib {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::ordered_json;
namespace fs = std::filesystem;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
json optional_number(const std::optional<double>& v) { return v ? json(*v) : json(); }

void check_options(const LdsOptions& o) {
  auto require = [](bool ok, const std::string& what) {
    if (!ok) throw UsageError("lds: " + what);
  };
  require(!o.model_dir.empty(), "no model bundle given (--model)");
  require(!o.corpus.empty(), "no training corpus given (--corpus)");
  require(!o.queries.empty(), "no query corpus given (--queries)");
  require(!o.scores.empty(), "no score matrix given (--scores)");
  require(!o.out.empty(), "no output file given (--out)");
  require(o.subsets >= 2, "--subsets must be >= 2, got " + std::to_string(o.subsets));
  require(o.fraction > 0 && o.fraction < 1, "--fraction must be in (0, 1), got " + std::to_string(o.fraction));
  require(o.retrain == "head" || o.retrain == "full", "--retrain must be head or full, got '" + o.retrain + "'");
  require(o.measure == "loss" || o.measure == "margin", "--measure must be loss or margin, got '" + o.measure + "'");
  require(o.target == "predicted" || o.target == "gold", "--target must be predicted or gold, got '" + o.target + "'");
  require(o.loo >= 0, "--loo must be >= 0");
  if (o.lambda) require(*o.lambda > 0 && std::isfinite(*o.lambda), "--lambda must be > 0");
  require(o.tolerance > 0 && o.loo_tolerance > 0, "tolerances must be > 0");
  require(o.max_iterations >= 1, "--max-iterations must be >= 1");
  require(o.bootstrap >= 1, "--bootstrap must be >= 1");
  require(o.batch >= 1, "--batch must be >= 1");
}

std::vector<std::int64_t> gold_labels(const model::Bundle& bundle, const std::vector<data::Example>& examples,
                                      const std::string& path) {
  std::vector<std::int64_t> y(examples.size());
  for (std::size_t i = 0; i < examples.size(); ++i) {
    const auto& e = examples[i];
    if (!e.label) throw InputError(path, e.line, "label", "record '" + e.id + "' has no label");
    y[i] = bundle.label_index(*e.label);
    if (y[i] == data::kNoLabel)
      throw InputError(path, e.line, "label", "'" + *e.label + "' is not a label of the model " + bundle.dir);
  }
  return y;
}

std::vector<float> tensor_values(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

// Per-job results: [neg_loss Q, margin Q, converged, gradient norm, iterations].
std::vector<double> job_values(const QueryValues& v, bool converged, double gradient_norm, double iterations) {
  std::vector<double> out = v.neg_loss;
  out.insert(out.end(), v.margin.begin(), v.margin.end());
  out.push_back(converged ? 1 : 0);
  out.push_back(gradient_norm);
  out.push_back(iterations);
  return out;
}

// Finished jobs kept under "<out>.work/<prefix>-<m>.json" with the settings
// key: a rerun with the same key skips them.
class WorkDir {
 public:
  WorkDir(std::string dir, std::string key) : dir_(std::move(dir)), key_(std::move(key)) {}
  std::string file(const std::string& prefix, std::int64_t m) const {
    return (fs::path(dir_) / (prefix + "-" + std::to_string(m) + ".json")).string();
  }
  void save(const std::string& prefix, std::int64_t m, const std::vector<double>& values) const {
    write_file_atomic(file(prefix, m), json{{"key", key_}, {"job", m}, {"values", values}}.dump());
  }
  // Results of the jobs with a file of this key (others empty).
  std::vector<std::vector<double>> load(const std::string& prefix, std::int64_t count, std::int64_t width) const {
    std::vector<std::vector<double>> known(static_cast<std::size_t>(count));
    for (std::int64_t m = 0; m < count; ++m) {
      const std::string f = file(prefix, m);
      std::error_code ec;
      if (!fs::exists(f, ec)) continue;
      const json j = json::parse(read_file(f), nullptr, false);
      if (!j.is_object() || j.value("key", "") != key_ || !j.contains("values") || !j["values"].is_array()) continue;
      std::vector<double> v;
      for (const auto& x : j["values"]) v.push_back(x.is_number() ? x.get<double>() : std::nan(""));
      if (std::int64_t(v.size()) == width) known[std::size_t(m)] = std::move(v);
    }
    return known;
  }

 private:
  std::string dir_, key_;
};

// COLLECTIVE. Rank 0's view of the finished jobs, on every rank: the ranks
// must agree on which jobs are pending, and a rank that scanned the directory
// after another rank had started writing would not.
std::vector<std::vector<double>> load_known(const WorkDir& dir, const std::string& prefix, std::int64_t count,
                                            std::int64_t width, comm::Communicator& comm) {
  std::vector<double> flat(static_cast<std::size_t>(count * (width + 1)), 0.0);
  comm::on_root(comm, "reading finished retrainings", [&] {
    const auto known = dir.load(prefix, count, width);
    for (std::int64_t m = 0; m < count; ++m)
      if (!known[std::size_t(m)].empty()) {
        flat[std::size_t(m * (width + 1))] = 1;
        std::copy(known[std::size_t(m)].begin(), known[std::size_t(m)].end(), flat.begin() + m * (width + 1) + 1);
      }
  });
  comm.broadcast(flat, 0);
  std::vector<std::vector<double>> out(static_cast<std::size_t>(count));
  for (std::int64_t m = 0; m < count; ++m)
    if (flat[std::size_t(m * (width + 1))] == 1)
      out[std::size_t(m)].assign(flat.begin() + m * (width + 1) + 1, flat.begin() + (m + 1) * (width + 1));
  return out;
}

std::int64_t count_known(const std::vector<std::vector<double>>& known) {
  return std::int64_t(std::count_if(known.begin(), known.end(), [](const auto& v) { return !v.empty(); }));
}

std::string ids_hash(const std::vector<std::string>& ids) {
  std::string all;
  for (const auto& s : ids) all += s + '\n';
  return sha256_hex(all);
}

}  // namespace

LdsResult lds(const LdsOptions& o, comm::Communicator& comm) {
  const auto start = Clock::now();
  check_options(o);
  model::configure_threads(o.threads);
  detail::LdsInputs in;
  comm::collective_check(comm, "reading the inputs of lds", [&] { in = detail::load_lds_inputs(o); });
  const std::int64_t Q = std::int64_t(in.scores.query_ids.size()), N = std::int64_t(in.scores.train_ids.size());
  const std::int64_t C = in.bundle.model->num_labels(), H = in.bundle.model->hidden_dim();
  const std::int64_t k = subset_size(N, o.fraction);

  // Queries: frozen features, the model's logits, targets.
  auto t0 = Clock::now();
  const QueryFeatures qf = compute_features(in.bundle, in.query_examples, o.batch, comm);
  std::vector<std::int64_t> targets = qf.predictions;
  if (o.target == "gold")
    comm::collective_check(comm, "reading the queries' gold labels",
                           [&] { targets = gold_labels(in.bundle, in.query_examples, o.queries); });
  const std::vector<float> query_features = tensor_values(qf.features);

  const bool head_needed = o.retrain == "head" || o.loo > 0;
  FrozenHead frozen;
  Head full_head;
  HeadRefit full_fit;
  LdsResult r;
  r.queries = Q;
  r.train_rows = N;
  r.subset_size = k;
  const double full_tolerance = o.loo > 0 ? std::min(o.tolerance, o.loo_tolerance) : o.tolerance;
  FitOptions fit;
  fit.max_iterations = o.max_iterations;
  if (head_needed) {
    const QueryFeatures tf = compute_features(in.bundle, in.train_examples, o.batch, comm);
    frozen.rows = N;
    frozen.dim = H;
    frozen.classes = C;
    frozen.features = tensor_values(tf.features);
    frozen.labels = in.train_labels;
    frozen.lambda = o.lambda ? *o.lambda : (in.training_l2_last > 0 ? in.training_l2_last : kDefaultLambda);
    r.lambda = frozen.lambda;
    r.lambda_source = o.lambda ? "--lambda" : (in.training_l2_last > 0 ? "training --l2-last" : "default");
    std::vector<std::int64_t> all(static_cast<std::size_t>(N));
    std::iota(all.begin(), all.end(), 0);
    FitOptions f = fit;
    f.tolerance = full_tolerance;
    // Every rank fits the same problem alone: the same head everywhere.
    comm::collective_check(comm, "fitting the head on all training rows",
                           [&] { full_fit = refit_head(frozen, all, detail::model_head(in.bundle), f); });
    full_head = full_fit.head;
    spdlog::info("lds: head on all {} rows: lambda {} ({}), gradient norm {:.3g} after {} iterations ({})", N,
                 r.lambda, r.lambda_source, full_fit.gradient_norm, full_fit.iterations, full_fit.stop_reason);
  }
  const double features_s = since(t0);

  // Resume: finished jobs of the same settings.
  const std::string work = o.out + ".work";
  const json common{{"model_sha256", in.bundle.weights_sha256},
                    {"corpus_sha256", in.corpus_sha256},
                    {"queries_sha256", in.queries_sha256},
                    {"train_ids", ids_hash(in.scores.train_ids)},
                    {"query_ids", ids_hash(in.scores.query_ids)},
                    {"targets", targets},
                    {"lambda", r.lambda},
                    {"max_iterations", o.max_iterations},
                    {"batch", o.batch}};
  json subset_settings = common;
  subset_settings["retrain"] = o.retrain;
  subset_settings["fraction"] = o.fraction;
  subset_settings["seed"] = o.seed;
  subset_settings["tolerance"] = o.tolerance;
  json loo_settings = common;
  loo_settings["tolerance"] = o.loo_tolerance;
  const WorkDir subset_dir(work, sha256_hex(subset_settings.dump()));
  const WorkDir loo_dir(work, sha256_hex(loo_settings.dump()));
  comm::on_root(comm, "preparing " + work, [&] {
    if (!o.resume) fs::remove_all(work);
    fs::create_directories(work);
  });
  comm.barrier();

  // The subsets and their retrainings.
  std::vector<std::vector<std::int64_t>> subsets;
  for (std::int64_t m = 0; m < o.subsets; ++m) subsets.push_back(draw_subset(N, o.fraction, o.seed, m));
  const std::int64_t width = 2 * Q + 3;
  std::vector<std::vector<double>> known;
  if (o.resume) known = load_known(subset_dir, "subset", o.subsets, width, comm);
  r.resumed_subsets = known.empty() ? 0 : count_known(known);
  if (r.resumed_subsets > 0) spdlog::info("lds: {} of {} subsets already retrained ({})", r.resumed_subsets, o.subsets, work);

  t0 = Clock::now();
  std::unique_ptr<detail::FullRetrainer> full;
  if (o.retrain == "full") full = std::make_unique<detail::FullRetrainer>(in, o, work);
  auto run_subset = [&](std::int64_t m) {
    std::vector<double> v;
    if (o.retrain == "head") {
      FitOptions f = fit;
      f.tolerance = o.tolerance;
      const HeadRefit h = refit_head(frozen, subsets[std::size_t(m)], full_head, f);
      v = job_values(values_at_head(h.head, query_features, targets), h.converged, h.gradient_norm,
                     double(h.iterations));
    } else {
      const std::vector<double> logits = full->logits(m, subsets[std::size_t(m)]);
      v = job_values(values_from_logits(logits, C, targets), true, 0, 0);
    }
    subset_dir.save("subset", m, v);
    return v;
  };
  const std::int64_t pending = o.subsets - r.resumed_subsets;
  const std::int64_t mine = pending / comm.size() + (comm.rank() < pending % comm.size() ? 1 : 0);
  std::vector<double> results;
  {
    Progress progress("lds: retraining on subsets (" + o.retrain + ", rank 0's share)", mine, "fits");
    results = run_jobs(o.subsets, width, known, run_subset, [&] { progress.advance(); }, comm);
    progress.finish();
  }
  const double retrain_s = since(t0);
  std::vector<double> actual(static_cast<std::size_t>(o.subsets * Q));
  for (std::int64_t m = 0; m < o.subsets; ++m) {
    const double* row = results.data() + m * width;
    for (std::int64_t q = 0; q < Q; ++q) actual[std::size_t(m * Q + q)] = o.measure == "loss" ? row[q] : row[Q + q];
    if (row[2 * Q] == 0 && o.retrain == "head") ++r.unconverged_fits;
  }
  r.lds = lds_statistics(actual, in.scores.scores, Q, N, subsets, o.bootstrap, o.seed);

  // Leave-one-out on the head.
  t0 = Clock::now();
  detail::LooPlan loo;
  std::vector<double> loo_results;
  if (o.loo > 0) {
    loo = detail::plan_loo(in.scores, o.loo);
    const std::int64_t count = std::int64_t(loo.rows.size());
    std::vector<std::vector<double>> loo_known;
    if (o.resume) loo_known = load_known(loo_dir, "loo", count, width, comm);
    auto run_loo = [&](std::int64_t j) {
      std::vector<std::int64_t> rest;
      rest.reserve(std::size_t(N - 1));
      for (std::int64_t i = 0; i < N; ++i)
        if (i != loo.rows[std::size_t(j)]) rest.push_back(i);
      FitOptions f = fit;
      f.tolerance = o.loo_tolerance;
      const HeadRefit h = refit_head(frozen, rest, full_head, f);
      auto v = job_values(values_at_head(h.head, query_features, targets), h.converged, h.gradient_norm,
                          double(h.iterations));
      loo_dir.save("loo", j, v);
      return v;
    };
    const std::int64_t loo_pending = count - (loo_known.empty() ? 0 : count_known(loo_known));
    Progress progress("lds: leave-one-out fits (rank 0's share)",
                      loo_pending / comm.size() + (comm.rank() < loo_pending % comm.size() ? 1 : 0), "fits");
    loo_results = run_jobs(count, width, loo_known, run_loo, [&] { progress.advance(); }, comm);
    progress.finish();
    r.loo_fits = count;
    for (std::int64_t j = 0; j < count; ++j)
      if (loo_results[std::size_t(j * width + 2 * Q)] == 0) ++r.unconverged_fits;
  }
  const double loo_s = since(t0);
  const QueryValues full_values =
      head_needed ? values_at_head(full_head, query_features, targets) : QueryValues{};
  const detail::LooStatistics loo_stats =
      o.loo > 0 ? detail::loo_statistics(loo, loo_results, width, full_values.neg_loss, in.scores)
                : detail::LooStatistics{};
  r.loo_pearson = loo_stats.pooled;
  r.loo_mean_pearson = loo_stats.mean;
  r.loo_pairs = loo_stats.pairs;
  r.seconds = since(start);

  comm::on_root(comm, "writing " + o.out, [&] {
    json per_query = json::array();
    for (std::int64_t q = 0; q < Q; ++q) {
      json e{{"id", in.scores.query_ids[std::size_t(q)]},
             {"target", in.bundle.info.labels[std::size_t(targets[std::size_t(q)])]},
             {"spearman", optional_number(r.lds.per_query[std::size_t(q)])}};
      if (head_needed)
        e["full_value"] = o.measure == "loss" ? full_values.neg_loss[std::size_t(q)] : full_values.margin[std::size_t(q)];
      json values = json::array();
      for (std::int64_t m = 0; m < o.subsets; ++m) values.push_back(actual[std::size_t(m * Q + q)]);
      e["actual"] = std::move(values);
      per_query.push_back(std::move(e));
    }
    json j{{"format", "fathom-lds"},
           {"format_version", 1},
           {"model_dir", o.model_dir},
           {"corpus", o.corpus},
           {"queries", o.queries},
           {"scores", o.scores},
           {"method", in.scores.method},
           {"sign", "score = predicted increase of the query's loss when the training example is removed; "
                    "actual = " + std::string(o.measure == "loss" ? "-loss" : "margin") +
                        " of the retrained model; LDS = mean over queries of Spearman(actual, sum of scores over the subset)"},
           {"settings",
            {{"subsets", o.subsets},
             {"fraction", o.fraction},
             {"subset_size", k},
             {"retrain", o.retrain},
             {"measure", o.measure},
             {"target", o.target},
             {"seed", o.seed},
             {"loo", o.loo},
             {"lambda", head_needed ? json(r.lambda) : json()},
             {"lambda_source", head_needed ? json(r.lambda_source) : json()},
             {"tolerance", o.tolerance},
             {"loo_tolerance", o.loo_tolerance},
             {"max_iterations", o.max_iterations},
             {"bootstrap", o.bootstrap}}},
           {"train_rows", N},
           {"corpus_records_unused", in.unused_train_records},
           {"lds",
            {{"mean", optional_number(r.lds.mean)},
             {"ci95", r.lds.mean ? json::array({r.lds.interval.low, r.lds.interval.high}) : json()},
             {"queries", Q},
             {"defined", r.lds.defined}}},
           {"fits",
            {{"full_head_gradient_norm", head_needed ? json(full_fit.gradient_norm) : json()},
             {"unconverged", r.unconverged_fits},
             {"resumed_subsets", r.resumed_subsets}}},
           {"per_query", std::move(per_query)}};
    if (o.loo > 0) j["loo"] = detail::loo_json(loo, loo_results, width, full_values.neg_loss, in.scores, loo_stats);
    j["timings"] = {{"features_s", features_s}, {"retrain_s", retrain_s}, {"loo_s", loo_s}, {"total_s", r.seconds}};
    j["ranks"] = comm.size();
    write_file_atomic(o.out, j.dump(1) + "\n");
  });
  spdlog::info("lds: LDS {} over {} queries ({} defined); {} subsets of {} rows, {} retraining", 
               r.lds.mean ? fmt::format("{:.4f}", *r.lds.mean) : "n/a", Q, r.lds.defined, o.subsets, k, o.retrain);
  return r;
}

}  // namespace fathom::attrib
