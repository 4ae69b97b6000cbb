// `fathom representer` as one library call (representer.h): inputs, head fit,
// α, queries, top representer points, outputs.
#include "fathom/attrib/representer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>

#include "fathom/attrib/query_features.h"
#include "fathom/comm/collective_check.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"
#include "fathom/core/log.h"
#include "fathom/model/model.h"
#include "fathom/store/cache_names.h"
#include "fathom/store/cache_reader.h"
#include "representer_internal.h"

namespace fathom::attrib {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::ordered_json;

// Pearson correlation and largest |x - y| of paired values, streamed
// (Welford's co-moments: no cancellation for large logits).
class Agreement {
 public:
  void add(double x, double y) {
    ++n_;
    const double dx = x - mean_x_;
    mean_x_ += dx / double(n_);
    const double dy = y - mean_y_;
    mean_y_ += dy / double(n_);
    m2x_ += dx * (x - mean_x_);
    m2y_ += dy * (y - mean_y_);
    cxy_ += dx * (y - mean_y_);
    max_abs_ = std::max(max_abs_, std::abs(x - y));
  }
  std::optional<double> pearson() const {
    if (n_ < 2 || !(m2x_ > 0) || !(m2y_ > 0)) return std::nullopt;
    return cxy_ / std::sqrt(m2x_ * m2y_);
  }
  double max_abs_error() const { return max_abs_; }

 private:
  std::int64_t n_ = 0;
  double mean_x_ = 0, mean_y_ = 0, m2x_ = 0, m2y_ = 0, cxy_ = 0, max_abs_ = 0;
};

json optional_number(const std::optional<double>& v) { return v ? json(*v) : json(); }

// z = W f + b of one float32 feature row, in float64.
void linear(const std::vector<double>& weight, const std::vector<double>& bias, const float* f, std::int64_t H,
            double* z) {
  for (std::size_t c = 0; c < bias.size(); ++c) {
    double s = bias[c];
    const double* w = weight.data() + std::int64_t(c) * H;
    for (std::int64_t h = 0; h < H; ++h) s += w[h] * double(f[h]);
    z[c] = s;
  }
}

// One output list: [{"id", "label", "value"[, "text"]}, ...] of query q;
// texts (by cache row) may be empty.
json entries(const std::vector<std::int64_t>& rows, const std::vector<double>& values, std::int64_t q, std::int64_t k,
             const std::vector<std::int64_t>& all_rows, const std::vector<std::string>& ids,
             const std::vector<std::int64_t>& labels, const std::vector<std::string>& label_names,
             const std::vector<std::string>& texts) {
  json list = json::array();
  for (std::int64_t j = 0; j < k; ++j) {
    const std::int64_t row = rows[std::size_t(q * k + j)];
    if (row < 0) continue;
    const std::size_t at = std::size_t(std::lower_bound(all_rows.begin(), all_rows.end(), row) - all_rows.begin());
    const std::int64_t y = labels[at];
    list.push_back(json{{"id", ids[at]},
                        {"label", y >= 0 ? json(label_names[std::size_t(y)]) : json()},
                        {"value", detail::round6(values[std::size_t(q * k + j)])}});
    if (!texts.empty()) list.back()["text"] = texts[std::size_t(row)];
  }
  return list;
}

// Rank 0: the JSONL lines of one block of queries.
void append_lines(const std::string& cache, const std::vector<data::Example>& block,
                  const std::vector<std::int64_t>& predictions, const RepresenterLists& lists,
                  const std::vector<std::string>& label_names, const std::vector<std::string>& texts,
                  std::string& text) {
  std::vector<std::int64_t> rows(lists.excitatory_rows);
  rows.insert(rows.end(), lists.inhibitory_rows.begin(), lists.inhibitory_rows.end());
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  std::vector<std::string> ids;
  std::vector<std::int64_t> labels;
  detail::read_row_names(cache, rows, ids, labels);
  for (std::size_t q = 0; q < block.size(); ++q) {
    json line{{"id", block[q].id},
              {"prediction", label_names[std::size_t(predictions[q])]},
              {"excitatory", entries(lists.excitatory_rows, lists.excitatory_values, std::int64_t(q), lists.k, rows,
                                     ids, labels, label_names, texts)},
              {"inhibitory", entries(lists.inhibitory_rows, lists.inhibitory_values, std::int64_t(q), lists.k, rows,
                                     ids, labels, label_names, texts)}};
    (text += line.dump()) += '\n';
  }
}

json meta_json(const RepresenterOptions& o, const detail::Inputs& in, const FitResult& fit,
               const RepresenterResult& r, int ranks) {
  return json{{"format", "fathom-representer-meta"},
              {"format_version", 1},
              {"model_dir", o.model_dir},
              {"cache", o.cache},
              {"queries", o.queries},
              {"labels", in.bundle.info.labels},
              {"lambda", r.lambda},
              {"lambda_source", r.lambda_source},
              {"rows", r.rows},
              {"labelled", r.labelled},
              {"n_queries", r.queries},
              {"top", o.top},
              {"fit",
               {{"tolerance", o.tolerance},
                {"gradient_norm_before", fit.before.gradient_norm},
                {"gradient_norm_after", fit.after.gradient_norm},
                {"objective_before", fit.before.objective},
                {"objective_after", fit.after.objective},
                {"fitted", fit.fitted},
                {"converged", fit.converged},
                {"iterations", fit.iterations},
                {"evaluations", fit.evaluations},
                {"stop_reason", fit.stop_reason},
                {"head", fit.fitted ? json(r.head_path) : json()}}},
              {"alpha", {{"file", r.alpha_path}, {"dataset", "representer_alpha"}}},
              {"reproduction",
               {{"pearson", optional_number(r.pearson)},
                {"max_abs_error", r.max_abs_error},
                {"model_logits",
                 {{"pearson", optional_number(r.model_pearson)}, {"max_abs_error", r.model_max_abs_error}}}}},
              {"seconds", r.seconds},
              {"ranks", ranks}};
}

}  // namespace

RepresenterResult representer(const RepresenterOptions& o, comm::Communicator& comm) {
  const auto t0 = Clock::now();
  detail::check_options(o);
  model::configure_threads(o.threads);
  detail::Inputs in = detail::load_inputs(o, comm);
  const std::int64_t C = in.classes, H = in.dim;

  // The problem: this rank's rows, in reduction blocks of whole cache chunks
  // (at most 64, and at most 256 MiB of per-block sums on one rank).
  const std::int64_t sum_width = C * H + C + 1;
  const std::int64_t max_blocks = std::clamp<std::int64_t>((std::int64_t(256) << 20) / (8 * sum_width), 1, 64);
  const ReductionPlan plan = ReductionPlan::make(in.rows, in.rows_per_chunk, max_blocks);
  HeadRows rows;
  comm::collective_check(comm, "reading /features and /labels of " + o.cache,
                         [&] { rows = detail::read_head_rows(o.cache, plan, H, comm.rank(), comm.size()); });
  const HeadProblem problem(std::move(rows), C, in.lambda, comm);
  Head start;
  comm::collective_check(comm, "reading the model's classifier", [&] { start = detail::model_head(in.bundle); });

  if (comm.is_root())
    spdlog::info("representer: lambda {} ({}), {} rows ({} labelled); fitting the head to gradient norm <= {}",
                 in.lambda, in.lambda_source, in.rows, problem.labelled(), o.tolerance);
  const FitResult fit = fit_head(problem, start, FitOptions{o.tolerance, o.max_iterations, 10});
  if (comm.is_root()) {
    if (!fit.fitted)
      spdlog::info("representer: the model's head is stationary (gradient norm {:.3g}); no fit needed",
                   fit.before.gradient_norm);
    else
      spdlog::info("representer: head fitted in {} iterations: gradient norm {:.3g} -> {:.3g} ({})", fit.iterations,
                   fit.before.gradient_norm, fit.after.gradient_norm, fit.stop_reason);
    if (!fit.converged)
      spdlog::warn("representer: the fit stopped ({}) above the tolerance {}: the decomposition is approximate "
                   "(see reproduction in the meta file)",
                   fit.stop_reason, o.tolerance);
  }
  // Training texts (rank 0), checked against the cache's ids before any output.
  std::vector<std::string> texts;
  if (!o.corpus.empty())
    comm::on_root(comm, "reading the training texts of " + o.corpus, [&] {
      const store::CacheReader cache = store::CacheReader::open(o.cache);
      texts = detail::read_training_texts(o.corpus, o.corpus_options,
                                          cache.read_strings(store::cache_names::dataset::kIds, 0, cache.rows()),
                                          o.snippet_chars);
    });
  const std::vector<double> alpha = problem.alpha(fit.head);
  const std::vector<double> reconstructed = problem.reconstructed_weight(alpha);

  // Queries, block by block (every rank reads the whole query corpus).
  RepresenterResult r;
  Agreement to_head, to_model;
  std::string text;
  std::unique_ptr<data::CorpusReader> reader;
  comm::collective_check(comm, "opening " + o.queries,
                         [&] { reader = std::make_unique<data::CorpusReader>(o.queries, o.query_options); });
  std::vector<data::Example> block;
  data::Example ex;
  bool more = true;
  std::vector<double> z(static_cast<std::size_t>(C)), zr(static_cast<std::size_t>(C));
  while (more) {
    block.clear();
    comm::collective_check(comm, "reading " + o.queries, [&] {
      while (std::int64_t(block.size()) < o.block_queries && (more = reader->next(ex))) block.push_back(ex);
    });
    if (block.empty()) break;
    const QueryFeatures qf = compute_features(in.bundle, block, o.batch, comm);
    const std::int64_t n = qf.size();
    const float* f = qf.features.data_ptr<float>();
    const float* model_logits = qf.logits.data_ptr<float>();
    std::vector<std::int64_t> predictions(static_cast<std::size_t>(n));
    for (std::int64_t q = 0; q < n; ++q) {
      linear(fit.head.weight, fit.head.bias, f + q * H, H, z.data());
      linear(reconstructed, fit.head.bias, f + q * H, H, zr.data());
      predictions[std::size_t(q)] = std::int64_t(std::max_element(z.begin(), z.end()) - z.begin());
      for (std::int64_t c = 0; c < C; ++c) {
        to_head.add(zr[std::size_t(c)], z[std::size_t(c)]);
        to_model.add(zr[std::size_t(c)], double(model_logits[q * C + c]));
      }
    }
    const RepresenterLists lists =
        representer_lists(problem.rows(), alpha, C, f, n, predictions, o.top, comm);
    comm::on_root(comm, "naming the representer points",
                  [&] { append_lines(o.cache, block, predictions, lists, in.bundle.info.labels, texts, text); });
    r.queries += n;
  }
  if (comm.is_root() && reader->skipped() > 0)
    spdlog::warn("representer: {} bad query records of {} were skipped", reader->skipped(), o.queries);

  r.lambda = in.lambda;
  r.lambda_source = in.lambda_source;
  r.rows = in.rows;
  r.labelled = problem.labelled();
  r.fitted = fit.fitted;
  r.converged = fit.converged;
  r.iterations = fit.iterations;
  r.gradient_norm_before = fit.before.gradient_norm;
  r.gradient_norm_after = fit.after.gradient_norm;
  r.pearson = to_head.pearson();
  r.max_abs_error = to_head.max_abs_error();
  r.model_pearson = to_model.pearson();
  r.model_max_abs_error = to_model.max_abs_error();
  r.alpha_path = o.out + ".alpha.h5";
  r.head_path = fit.fitted ? o.out + ".head.json" : std::string();
  r.meta_path = o.out + ".meta.json";

  // Outputs: α (every rank its rows), then the head, the lines, the meta file.
  comm::on_root(comm, "creating the output directory", [&] {
    const std::filesystem::path parent = std::filesystem::path(o.out).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);
  });
  comm::collective_check(comm, "writing " + r.alpha_path, [&] {
    detail::write_alpha_file(r.alpha_path, o, in, problem.rows(), alpha, fit.fitted, fit.after.gradient_norm,
                             problem.labelled(), comm);
  });
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  comm::on_root(comm, "writing " + o.out, [&] {
    if (fit.fitted)
      write_file_atomic(r.head_path, detail::head_json(fit.head, in.bundle.info.labels, in.lambda,
                                                       fit.after.gradient_norm, o.model_dir, o.cache));
    write_file_atomic(o.out, text);
    write_file_atomic(r.meta_path, meta_json(o, in, fit, r, comm.size()).dump(2) + "\n");
  });
  if (comm.is_root())
    spdlog::info("representer: {} queries; logits reproduced with Pearson {} (max abs error {:.3g})", r.queries,
                 r.pearson ? std::to_string(*r.pearson) : std::string("n/a"), r.max_abs_error);
  return r;
}

}  // namespace fathom::attrib
