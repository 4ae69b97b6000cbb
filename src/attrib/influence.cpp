// `fathom influence`: influence of training examples on test predictions
// (influence.h).
#include "fathom/core/strings.h"
#include "fathom/attrib/influence.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <algorithm>
#include <filesystem>
#include <optional>
#include <memory>

#include "fathom/attrib/query_features.h"
#include "fathom/attrib/score_matrix.h"
#include "fathom/comm/collective_check.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"
#include "fathom/core/log.h"
#include "fathom/core/progress.h"
#include "fathom/grads/per_example.h"
#include "fathom/index/sharded_index.h"
#include "fathom/index/vector_index.h"
#include "fathom/model/batching.h"
#include "influence_internal.h"
#include "training_texts.h"

namespace fathom::attrib {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using detail::TopLists;


double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// FastIF candidate lists, one per query (training rows, any order).
//  * index over /features (FastIF proper): each query's K nearest training
//    rows in feature space, found once for all queries before the solve.
//  * index over /gradients with the inner-product metric: for each query's
//    projected s_test, the K rows with the largest s·g (proponent
//    candidates) and the K with the largest -s·g (opponents). The score IS
//    s·g, so a Flat index gives the exact top lists (recall 1) and an IVF one
//    approximates them; found per query block, after the solve.
class Candidates {
 public:
  Candidates(const InfluenceOptions& o, detail::InfluenceInputs& in, comm::Communicator& comm)
      : K_(std::stoll(o.candidates.substr(4))), index_(index::ShardedIndex::open(o.index, comm)) {
    const index::Manifest& m = index_.manifest();
    by_gradients_ = m.field == "gradients";
    comm::collective_check(comm, "checking the index " + o.index, [&] {
      if (m.rows != in.cache.rows)
        throw InputError(o.index, 0, "rows",
                         "the index has " + std::to_string(m.rows) + " rows, the cache " +
                             std::to_string(in.cache.rows) + ": it was not built from this cache");
      const std::int64_t want = by_gradients_ ? in.cache.stored_dim : in.bundle.model->hidden_dim();
      if (m.dim != want)
        throw InputError(o.index, 0, "dim",
                         "the index holds " + std::to_string(m.dim) + "-wide vectors, the " +
                             (by_gradients_ ? "cache's gradient rows are " : "model's features are ") +
                             std::to_string(want) + " wide (build it from this cache with `fathom index`)");
      if (by_gradients_ && m.metric != index::Metric::ip)
        throw InputError(o.index, 0, "metric",
                         "a gradient index for FastIF candidates must use the inner product (the influence score "
                         "is s_test . g): build it with `fathom index --field gradients --metric ip`");
    });
    if (by_gradients_) return;
    const QueryFeatures q = compute_features(in.bundle, in.queries, 64, comm);  // float32, as the index holds
    const index::Neighbors nb = index_.search(q.features.data_ptr<float>(), q.size(), K_);
    all_.resize(std::size_t(q.size()));
    for (std::int64_t i = 0; i < q.size(); ++i) all_[std::size_t(i)] = row_list(nb, i, nullptr);
  }

  // COLLECTIVE with a gradient index (every rank passes the same block).
  // Candidates of queries [b, e); `sp` is their projected s_test [e - b, D].
  std::vector<std::vector<std::int64_t>> block(std::int64_t b, std::int64_t e, const torch::Tensor& sp) const {
    if (!by_gradients_) return {all_.begin() + b, all_.begin() + e};
    const torch::Tensor up = sp.to(torch::kFloat).contiguous(), down = (-up).contiguous();
    const index::Neighbors pro = index_.search(up.data_ptr<float>(), e - b, K_);
    const index::Neighbors opp = index_.search(down.data_ptr<float>(), e - b, K_);
    std::vector<std::vector<std::int64_t>> out(std::size_t(e - b));
    for (std::int64_t i = 0; i < e - b; ++i) {
      std::vector<std::int64_t> rows = row_list(pro, i, nullptr);
      row_list(opp, i, &rows);
      std::sort(rows.begin(), rows.end());
      rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
      out[std::size_t(i)] = std::move(rows);
    }
    return out;
  }

 private:
  // The found rows of list q (missing entries, -1, dropped), appended to
  // `into` if given.
  static std::vector<std::int64_t> row_list(const index::Neighbors& nb, std::int64_t q, std::vector<std::int64_t>* into) {
    std::vector<std::int64_t> local;
    std::vector<std::int64_t>& rows = into ? *into : local;
    for (std::int64_t j = 0; j < nb.k; ++j)
      if (nb.rows[std::size_t(q * nb.k + j)] >= 0) rows.push_back(nb.rows[std::size_t(q * nb.k + j)]);
    return local;
  }

  std::int64_t K_;
  index::ShardedIndex index_;
  bool by_gradients_ = false;
  std::vector<std::vector<std::int64_t>> all_;  // feature index: every query's list
};

nlohmann::ordered_json entries(const index::Neighbors& lists, std::int64_t q, bool negated,
                               const detail::InfluenceInputs& in, const InfluenceOptions& o) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (std::int64_t j = 0; j < lists.k; ++j) {
    const std::int64_t row = lists.rows[std::size_t(q * lists.k + j)];
    if (row < 0) continue;
    const float d = lists.distances[std::size_t(q * lists.k + j)];
    const data::Example& e = in.training[std::size_t(row)];
    nlohmann::ordered_json x;
    x["id"] = e.id;
    x["label"] = e.label ? nlohmann::ordered_json(*e.label) : nlohmann::ordered_json();
    x["score"] = detail::round6(negated ? -double(d) : double(d));
    if (o.texts) x["text"] = detail::snippet(e.text_pair ? e.text + " [SEP] " + *e.text_pair : e.text, o.snippet_chars);
    out.push_back(std::move(x));
  }
  return out;
}

// The rows of `lists` for queries [0, n).
index::Neighbors first_queries(const index::Neighbors& lists, std::int64_t n) {
  index::Neighbors out;
  out.queries = n;
  out.k = lists.k;
  out.rows.assign(lists.rows.begin(), lists.rows.begin() + n * lists.k);
  out.distances.assign(lists.distances.begin(), lists.distances.begin() + n * lists.k);
  return out;
}

void append_lists(index::Neighbors& all, const index::Neighbors& part) {
  all.queries += part.queries;
  all.k = part.k;
  all.rows.insert(all.rows.end(), part.rows.begin(), part.rows.end());
  all.distances.insert(all.distances.end(), part.distances.begin(), part.distances.end());
}


}  // namespace

InfluenceResult influence(const InfluenceOptions& o, comm::Communicator& comm) {
  const auto t0 = Clock::now();
  detail::check_influence_options(o);
  model::configure_threads(o.threads);
  detail::InfluenceInputs in = detail::load_influence_inputs(o, "influence", comm);
  const std::int64_t Q = std::int64_t(in.queries.size()), N = in.cache.rows;
  const bool fastif = o.candidates != "all";
  std::optional<Candidates> candidates;
  if (fastif) candidates.emplace(o, in, comm);

  model::Model& model = *in.bundle.model;
  if (o.dtype == "float64") model.to(model.device(), torch::kDouble);
  in.layout = grads::ParamLayout::select(model, join(in.cache.params, ","));  // tensors after the dtype change
  TrainingHessian hessian(model, in.layout, detail::training_rows(in), comm, o.hessian_batch);
  SolverOptions so = o.solver;
  so.fingerprint = detail::solver_fingerprint(in, o.dtype);
  const auto t_setup = Clock::now();
  std::unique_ptr<InverseHvp> solver = make_inverse_hvp(so, hessian);
  double solve_seconds = since(t_setup), score_seconds = 0;

  std::unique_ptr<AtomicFile> out;
  comm::on_root(comm, "opening " + o.out, [&] {
    const fs::path parent = fs::path(o.out).parent_path();
    if (!parent.empty()) fs::create_directories(parent);
    out = std::make_unique<AtomicFile>(o.out);
  });
  grads::PerExampleGradients gradients(model, in.layout, nullptr);
  const grads::LossTarget loss_target =
      o.target == "predicted" ? grads::LossTarget::predicted : grads::LossTarget::gold;
  std::int64_t fixed_label = data::kNoLabel;
  if (o.target != "predicted" && o.target != "gold") {
    fixed_label = in.bundle.label_index(o.target);
    if (fixed_label == data::kNoLabel)
      throw UsageError("--target: '" + o.target + "' is not a label of the model [" +
                       join(in.bundle.info.labels, ", ") + "] (or predicted, gold)");
  }
  const std::int64_t sample = fastif ? std::min(o.recall_queries, Q) : 0;
  torch::Tensor sample_s;  // projected s_test of the recall sample
  index::Neighbors restricted_pro, restricted_opp;
  std::vector<float> full_matrix;
  const bool want_full = !o.scores_out.empty();
  Progress progress("influence", Q, "queries", o.progress_period_s);
  for (std::int64_t b = 0; b < Q; b += o.query_batch) {
    const std::int64_t e = std::min(Q, b + o.query_batch);
    std::vector<data::Example> block(in.queries.begin() + b, in.queries.begin() + e);
    std::vector<std::int64_t> rows(std::size_t(e - b));
    std::iota(rows.begin(), rows.end(), b);
    grads::ExampleGradients g;
    comm::collective_check(comm, "query gradients", [&] {
      model::Batch batch = model::make_batch(block, *in.bundle.tokenizer, in.bundle.info.max_length,
                                             in.bundle.info.labels, rows)
                               .to(model.device());
      if (fixed_label != data::kNoLabel) batch.labels = torch::full({batch.size()}, fixed_label, torch::kLong);
      g = gradients.compute(batch, loss_target);
    });
    auto ts = Clock::now();
    const torch::Tensor s = solver->apply(g.gradients.to(torch::kCPU).to(torch::kDouble));
    torch::Tensor sp = (in.projector ? in.projector->project(s) : s) / double(N);
    solve_seconds += since(ts);
    auto tc = Clock::now();
    std::vector<float> full_block;
    const TopLists lists =
        fastif ? detail::scan_candidates(o.cache, sp, candidates->block(b, e, sp), o.top, comm,
                                         want_full ? &full_block : nullptr, N)
               : detail::scan_all(o.cache, sp, o.top, o.memory_budget, comm, want_full ? &full_block : nullptr);
    score_seconds += since(tc);
    if (b < sample) {
      const std::int64_t n = std::min(e, sample) - b;
      sample_s = sample_s.defined() ? torch::cat({sample_s, sp.narrow(0, 0, n)}) : sp.narrow(0, 0, n).clone();
      append_lists(restricted_pro, first_queries(lists.proponents, n));
      append_lists(restricted_opp, first_queries(lists.opponents_negated, n));
    }
    if (want_full && comm.is_root()) full_matrix.insert(full_matrix.end(), full_block.begin(), full_block.end());
    comm::on_root(comm, "writing " + o.out, [&] {
      const torch::Tensor losses = g.losses.to(torch::kCPU).to(torch::kDouble);
      for (std::int64_t i = 0; i < e - b; ++i) {
        nlohmann::ordered_json line;
        line["id"] = block[std::size_t(i)].id;
        line["prediction"] = in.bundle.info.labels[std::size_t(g.predictions[i].item<std::int64_t>())];
        line["target"] = in.bundle.info.labels[std::size_t(g.targets[i].item<std::int64_t>())];
        line["loss"] = detail::round6(losses[i].item<double>());
        line["proponents"] = entries(lists.proponents, i, false, in, o);
        line["opponents"] = entries(lists.opponents_negated, i, true, in, o);
        out->stream() << line.dump() << '\n';
      }
    });
    progress.advance(e - b);
  }
  progress.finish();

  InfluenceResult r;
  r.queries = Q;
  r.rows = N;
  r.dim = in.layout.dim();
  r.stored_dim = in.cache.stored_dim;
  if (fastif && sample > 0) {
    // Recall of the restricted lists against a full scan of the same s_test.
    const TopLists exact = detail::scan_all(o.cache, sample_s, o.top, o.memory_budget, comm, nullptr);
    r.recall_proponents = index::recall_at_k(restricted_pro, exact.proponents);
    r.recall_opponents = index::recall_at_k(restricted_opp, exact.opponents_negated);
  }
  r.solve_seconds = solve_seconds;
  r.score_seconds = score_seconds;
  r.seconds = since(t0);
  r.meta_path = o.out + ".meta.json";
  const std::string report = solver->report_json();
  comm::on_root(comm, "writing " + o.out, [&] {
    out->commit();
    if (want_full) {
      ScoreMatrix m;
      m.method = "influence:" + solver->name();
      m.sign = detail::kInfluenceSign;
      for (const auto& q : in.queries) m.query_ids.push_back(q.id);
      for (const auto& t : in.training) m.train_ids.push_back(t.id);
      m.scores = std::move(full_matrix);
      write_score_matrix(o.scores_out, m);
    }
    nlohmann::ordered_json meta;
    meta["format"] = "fathom-influence-meta";
    meta["format_version"] = 1;
    meta["sign"] = detail::kInfluenceSign;
    meta["model_dir"] = o.model_dir;
    meta["cache"] = o.cache;
    meta["corpus"] = in.corpus;
    meta["queries"] = o.queries;
    meta["n_queries"] = Q;
    meta["rows"] = N;
    meta["target"] = o.target;
    meta["dtype"] = o.dtype;
    meta["solver"] = nlohmann::ordered_json::parse(report);
    meta["params"] = in.layout.names();
    meta["param_count"] = in.layout.dim();
    meta["projection"] = in.cache.projection;
    meta["stored_dim"] = in.cache.stored_dim;
    meta["candidates"] = o.candidates;
    meta["index"] = fastif ? nlohmann::ordered_json(o.index) : nlohmann::ordered_json();
    nlohmann::ordered_json recall;
    if (r.recall_proponents) {
      recall["queries"] = sample;
      recall["top"] = o.top;
      recall["proponents"] = *r.recall_proponents;
      recall["opponents"] = *r.recall_opponents;
    }
    meta["recall"] = r.recall_proponents ? recall : nlohmann::ordered_json();
    meta["top"] = o.top;
    meta["scores_out"] = want_full ? nlohmann::ordered_json(o.scores_out) : nlohmann::ordered_json();
    meta["hvp_rows_rank0"] = hessian.rows_evaluated();
    meta["timings"] = {{"solve_seconds", solve_seconds}, {"score_seconds", score_seconds}, {"total_seconds", r.seconds}};
    meta["ranks"] = comm.size();
    write_file_atomic(r.meta_path, meta.dump(2) + "\n");
  });
  return r;
}

}  // namespace fathom::attrib
