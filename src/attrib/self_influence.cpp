// `fathom self-influence`: every training example's self-influence by an
// inverse-HVP solver, or TracIn over checkpoints (self_influence.h).
#include "fathom/core/strings.h"
#include "fathom/attrib/self_influence.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <numeric>

#include "fathom/attrib/score_matrix.h"
#include "fathom/comm/collective_check.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"
#include "fathom/core/log.h"
#include "fathom/core/progress.h"
#include "fathom/model/batching.h"
#include "self_influence_internal.h"
#include "training_texts.h"

namespace fathom::attrib {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;


double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void check_options(const SelfInfluenceOptions& o) {
  if (o.cache.empty()) throw UsageError("self-influence: no cache given (--cache)");
  if (o.out.empty()) throw UsageError("self-influence: no output given (--out)");
  if (!(o.top_fraction > 0 && o.top_fraction <= 1))
    throw UsageError("--top-fraction must be in (0, 1], got " + std::to_string(o.top_fraction));
  if (o.batch < 1) throw UsageError("--row-batch must be >= 1");
  if (o.hessian_batch < 1) throw UsageError("--hessian-batch must be >= 1");
  if (o.dtype != "float64" && o.dtype != "float32")
    throw UsageError("--dtype must be float64 or float32, got '" + o.dtype + "'");
  if (!o.tracin && (!o.queries.empty() || !o.scores_out.empty()))
    throw UsageError("self-influence: --queries and --scores-out are for --tracin (query scores of a solver: "
                     "`fathom influence --scores-out`)");
  if (o.queries.empty() != o.scores_out.empty())
    throw UsageError("self-influence --tracin: --queries and --scores-out go together");
}

// The labels the TracIn query losses use, fixed for every checkpoint: the
// final model's prediction, the gold label, or one named label.
std::vector<std::int64_t> query_labels(const SelfInfluenceOptions& o, detail::InfluenceInputs& in,
                                       comm::Communicator& comm) {
  std::vector<std::int64_t> labels;
  comm::collective_check(comm, "query labels", [&] {
    model::Model& m = *in.bundle.model;
    const std::int64_t Q = std::int64_t(in.queries.size());
    std::int64_t fixed = data::kNoLabel;
    if (o.target != "predicted" && o.target != "gold") {
      fixed = in.bundle.label_index(o.target);
      if (fixed == data::kNoLabel)
        throw UsageError("--target: '" + o.target + "' is not a label of the model [" +
                         join(in.bundle.info.labels, ", ") + "] (or predicted, gold)");
    }
    torch::NoGradGuard no_grad;
    m.train(false);
    for (std::int64_t b = 0; b < Q; b += o.batch) {
      const std::int64_t e = std::min(Q, b + o.batch);
      if (o.target == "gold") {
        for (std::int64_t i = b; i < e; ++i) {
          const auto& q = in.queries[std::size_t(i)];
          if (!q.label) throw InputError(o.queries, q.line, "label", "--target gold needs a label on every query");
          labels.push_back(in.bundle.label_index(*q.label));
        }
      } else if (fixed != data::kNoLabel) {
        labels.insert(labels.end(), std::size_t(e - b), fixed);
      } else {
        std::vector<data::Example> block(in.queries.begin() + b, in.queries.begin() + e);
        std::vector<std::int64_t> rows(std::size_t(e - b));
        std::iota(rows.begin(), rows.end(), b);
        const model::Batch batch = model::make_batch(block, *in.bundle.tokenizer, in.bundle.info.max_length,
                                                     in.bundle.info.labels, rows)
                                       .to(m.device());
        const torch::Tensor pred = m.forward(batch).logits.argmax(1).to(torch::kCPU).contiguous();
        labels.insert(labels.end(), pred.data_ptr<std::int64_t>(), pred.data_ptr<std::int64_t>() + (e - b));
      }
    }
  });
  return labels;
}

// Gathers each rank's contiguous shard of `local` onto rank 0 (row order).
std::vector<double> gather_rows(const std::vector<double>& local, comm::Communicator& comm) {
  const std::vector<std::uint8_t> bytes = comm.gatherv(local.data(), std::int64_t(local.size()), comm::DType::f64, 0);
  std::vector<double> all(bytes.size() / sizeof(double));
  if (!bytes.empty()) std::memcpy(all.data(), bytes.data(), bytes.size());
  return all;
}

// Gathers each rank's [Q, n_r] block of columns into rank 0's [Q, N] matrix.
std::vector<float> gather_columns(const std::vector<double>& local, std::int64_t Q, std::int64_t N,
                                  comm::Communicator& comm) {
  std::vector<std::int64_t> counts;
  const std::vector<std::uint8_t> bytes =
      comm.gatherv(local.data(), std::int64_t(local.size()), comm::DType::f64, 0, &counts);
  std::vector<float> out;
  if (!comm.is_root()) return out;
  out.assign(std::size_t(Q * N), 0.f);
  const double* src = reinterpret_cast<const double*>(bytes.data());
  for (int r = 0; r < comm.size(); ++r) {
    const data::Range s = data::shard_range(N, r, comm.size());
    const std::int64_t n = s.end - s.begin;
    for (std::int64_t q = 0; q < Q; ++q)
      for (std::int64_t j = 0; j < n; ++j) out[std::size_t(q * N + s.begin + j)] = float(src[q * n + j]);
    src += counts[std::size_t(r)];
  }
  return out;
}

// What a resume must match: everything the scores depend on.
std::string work_key(const SelfInfluenceOptions& o, const detail::InfluenceInputs& in, int ranks) {
  nlohmann::ordered_json k;
  k["method"] = o.tracin ? "tracin" : o.solver.solver;
  const SolverOptions& s = o.solver;
  if (!o.tracin)
    k["solver"] = {s.damping, s.seed, s.depth, s.repeats, s.batch, s.scale, s.power_iterations, s.tolerance,
                   s.max_iterations, s.rank, s.lanczos_steps, s.ekfac_samples};
  k["model_sha256"] = in.cache.model_sha256;
  k["params"] = in.cache.params;
  k["corpus"] = in.corpus;
  k["rows"] = in.cache.rows;
  k["dtype"] = o.dtype;
  k["batch"] = o.batch;
  k["hessian_batch"] = o.hessian_batch;
  k["queries"] = o.queries;
  k["n_queries"] = in.queries.size();
  k["target"] = o.target;
  k["ranks"] = ranks;
  return k.dump();
}

}  // namespace

namespace detail {
const char* const kSelfInfluenceSign =
    "self-influence(z) = grad L(z)^T (H + damping I)^-1 grad L(z), gradient at the gold label, no 1/n: n times the "
    "predicted increase of z's own loss if z were removed from training. High = the model fits z only by bending "
    "towards it (mislabel candidates); lines are ordered by descending score.";
const char* const kTracinSelfSign =
    "TracIn self-influence(z) = sum_k lr_k ||grad L(z; theta_k)||^2 over the training checkpoints theta_k (lr_k the "
    "learning rate of epoch k), gradient at the gold label: the first-order decrease of z's own loss from its own "
    "training steps. High = mislabel candidates; lines are ordered by descending score.";
const char* const kTracinQuerySign =
    "score(z_i, z_test) = sum_k lr_k grad L(z_test; theta_k) . grad L(z_i; theta_k): the first-order decrease of "
    "the test loss from the training steps on z_i. Positive = proponent (supports the test prediction), negative = "
    "opponent (fathom's convention).";
}  // namespace detail

SelfInfluenceResult self_influence(const SelfInfluenceOptions& o, comm::Communicator& comm) {
  const auto t0 = Clock::now();
  check_options(o);
  model::configure_threads(o.threads);
  InfluenceOptions io;
  io.model_dir = o.model_dir;
  io.cache = o.cache;
  io.corpus = o.corpus;
  io.corpus_options = o.corpus_options;
  io.queries = o.queries;
  io.query_options = o.query_options;
  detail::InfluenceInputs in = detail::load_influence_inputs(io, "self-influence", comm);
  std::vector<model::CheckpointInfo> checkpoints;
  comm::collective_check(comm, "self-influence: checking the training labels", [&] {
    // Checked here, on every rank, because the scoring loop has no collective to fail in.
    for (const auto& e : in.training)
      if (!e.label || in.bundle.label_index(*e.label) == data::kNoLabel)
        throw InputError(in.corpus, e.line, "label",
                         e.label ? "'" + *e.label + "' is not a label of the model [" +
                                       join(in.bundle.info.labels, ", ") + "]"
                                 : "self-influence needs the gold label of every training record");
    if (o.tracin) {
      checkpoints = model::list_checkpoints(o.model_dir);
      if (checkpoints.empty())
        throw InputError((fs::path(o.model_dir) / "checkpoints").string(),
                         "no training checkpoints: --tracin needs the per-epoch checkpoints `fathom train` saves "
                         "in <model>/checkpoints");
    }
  });
  const std::int64_t N = in.cache.rows, Q = std::int64_t(in.queries.size());
  model::Model& model = *in.bundle.model;
  if (o.dtype == "float64") model.to(model.device(), torch::kDouble);
  in.layout = grads::ParamLayout::select(model, join(in.cache.params, ","));  // tensors after the dtype change

  SelfInfluenceResult r;
  r.rows = N;
  r.dim = in.layout.dim();
  r.queries = Q;
  r.checkpoints = std::int64_t(checkpoints.size());
  detail::WorkFile work(o.out + ".work", work_key(o, in, comm.size()), comm.rank(), comm.size(), o.resume,
                        o.checkpoint_every_s);
  const data::Range shard = data::shard_range(N, comm.rank(), comm.size());
  std::vector<double> scores;        // rank 0: all N
  std::vector<float> cross;          // rank 0: [Q, N] (TracIn with queries)
  nlohmann::ordered_json method_report;
  const auto t_setup = Clock::now();
  if (o.tracin) {
    r.method = "tracin";
    const std::vector<std::int64_t> labels = Q > 0 ? query_labels(o, in, comm) : std::vector<std::int64_t>();
    r.setup_seconds = since(t_setup);
    const auto ts = Clock::now();
    Progress progress("tracin", r.checkpoints * N, "rows", o.progress_period_s);
    detail::TracinScores t = detail::tracin_scores(o, in, shard, labels, work, progress, comm.size());
    progress.finish();
    r.resumed_rows = comm.all_reduce_value(t.resumed);
    scores = gather_rows(t.self, comm);
    if (Q > 0) cross = gather_columns(t.cross, Q, N, comm);
    r.score_seconds = since(ts);
    if (t.newest_checkpoint_difference > 1e-6)
      spdlog::warn("tracin: the newest checkpoint ({}) differs from the model's weights by up to {}: the checkpoints "
                   "may be of another training run",
                   t.checkpoints.back().path, t.newest_checkpoint_difference);
    nlohmann::ordered_json cks = nlohmann::ordered_json::array();
    for (const auto& c : t.checkpoints) cks.push_back({{"epoch", c.epoch}, {"lr", c.lr}, {"path", c.path}});
    method_report["checkpoints"] = cks;
    method_report["newest_checkpoint_max_difference"] = t.newest_checkpoint_difference;
    method_report["gradient_reuse"] =
        "per checkpoint, each block of training gradients is computed once and serves both the self scores and the "
        "query scores; the query gradients are computed once per checkpoint and kept in memory";
  } else {
    TrainingHessian hessian(model, in.layout, detail::training_rows(in), comm, o.hessian_batch);
    SolverOptions so = o.solver;
    // The same fingerprint as `fathom influence`, so saved eigenpairs/factors are shared.
    so.fingerprint = detail::solver_fingerprint(in, o.dtype);
    std::unique_ptr<InverseHvp> solver = make_inverse_hvp(so, hessian);
    r.method = "influence:" + solver->name();
    r.setup_seconds = since(t_setup);
    const auto ts = Clock::now();
    grads::PerExampleGradients gradients(model, in.layout, nullptr);
    const TrainingRows rows = detail::training_rows(in);
    auto score_block = [&](std::int64_t b, std::int64_t e, double* out) {
      const torch::Tensor g = detail::training_gradients(gradients, rows, b, e);
      const torch::Tensor s = (g * solver->apply(g)).sum(1).contiguous();
      std::copy(s.data_ptr<double>(), s.data_ptr<double>() + (e - b), out);
    };
    Progress progress("self-influence", N, "rows", o.progress_period_s);
    if (solver->apply_is_local()) {
      // Each rank applies the stored operator to its own rows.
      const std::int64_t n = shard.end - shard.begin;
      detail::WorkState saved = work.load(std::size_t(n));
      std::vector<double> local = saved.done > 0 && saved.done <= n ? saved.values : std::vector<double>(std::size_t(n));
      std::int64_t done = saved.done > 0 && saved.done <= n ? saved.done : 0;
      r.resumed_rows = comm.all_reduce_value(done);
      progress.set_initial(r.resumed_rows);
      for (std::int64_t b = shard.begin + done; b < shard.end; b += o.batch) {
        const std::int64_t e = std::min(shard.end, b + o.batch);
        score_block(b, e, local.data() + (b - shard.begin));
        done = e - shard.begin;
        work.maybe_save(done, local);
        progress.advance((e - b) * comm.size());  // the other ranks progress alike
      }
      work.maybe_save(done, local, true);
      scores = gather_rows(local, comm);
    } else {
      // lissa / cg: apply() is collective, so every rank takes the same blocks.
      const std::int64_t solves = (N + o.batch - 1) / o.batch;
      if (comm.is_root())
        spdlog::warn("self-influence --solver {}: its apply is an iterative solve over the whole training set, run "
                     "once per block of --row-batch {} rows ({} solves); exact, arnoldi and ekfac apply a stored "
                     "operator instead and are far cheaper here",
                     solver->name(), o.batch, solves);
      detail::WorkState saved = work.load(std::size_t(N));
      std::int64_t done = saved.done > 0 && saved.done <= N ? saved.done : 0;
      done = comm.all_reduce_value(done, comm::ReduceOp::min);  // every rank resumes at the same block
      std::vector<double> all = done > 0 ? saved.values : std::vector<double>(std::size_t(N));
      r.resumed_rows = done;
      progress.set_initial(done);
      for (std::int64_t b = done; b < N; b += o.batch) {
        const std::int64_t e = std::min(N, b + o.batch);
        score_block(b, e, all.data() + b);
        done = e;
        work.maybe_save(done, all);
        progress.advance(e - b);
      }
      work.maybe_save(done, all, true);
      if (comm.is_root()) scores = std::move(all);
    }
    progress.finish();
    r.score_seconds = since(ts);
    method_report["solver"] = nlohmann::ordered_json::parse(solver->report_json());
    method_report["apply_is_local"] = solver->apply_is_local();
    method_report["hvp_rows_rank0"] = hessian.rows_evaluated();
  }

  r.written = std::min<std::int64_t>(N, std::int64_t(std::ceil(o.top_fraction * double(N) - 1e-9)));
  r.meta_path = o.out + ".meta.json";
  comm::on_root(comm, "writing " + o.out, [&] {
    for (std::int64_t i = 0; i < N; ++i) {
      if (!std::isfinite(scores[std::size_t(i)]))
        throw Error("self-influence: a non-finite score for training row " + std::to_string(i) + " ('" +
                    in.training[std::size_t(i)].id + "'); nothing was written (try a larger --damping)");
      if (scores[std::size_t(i)] < 0) ++r.negative;
    }
    std::vector<std::int64_t> order(static_cast<std::size_t>(N));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::int64_t a, std::int64_t b) { return scores[std::size_t(a)] > scores[std::size_t(b)]; });
    const fs::path parent = fs::path(o.out).parent_path();
    if (!parent.empty()) fs::create_directories(parent);
    AtomicFile out(o.out);
    for (std::int64_t k = 0; k < r.written; ++k) {
      const std::int64_t row = order[std::size_t(k)];
      const data::Example& e = in.training[std::size_t(row)];
      nlohmann::ordered_json line;
      line["rank"] = k + 1;
      line["id"] = e.id;
      line["label"] = *e.label;
      line["score"] = detail::round6(scores[std::size_t(row)]);
      if (o.texts) line["text"] = detail::snippet(e.text_pair ? e.text + " [SEP] " + *e.text_pair : e.text, o.snippet_chars);
      out.stream() << line.dump() << '\n';
    }
    out.commit();
    if (Q > 0) {
      ScoreMatrix m;
      m.method = "tracin";
      m.sign = detail::kTracinQuerySign;
      for (const auto& q : in.queries) m.query_ids.push_back(q.id);
      for (const auto& t : in.training) m.train_ids.push_back(t.id);
      m.scores = std::move(cross);
      write_score_matrix(o.scores_out, m);
    }
    r.seconds = since(t0);
    nlohmann::ordered_json meta;
    meta["format"] = "fathom-self-influence-meta";
    meta["format_version"] = 1;
    meta["method"] = r.method;
    meta["sign"] = o.tracin ? detail::kTracinSelfSign : detail::kSelfInfluenceSign;
    meta["model_dir"] = o.model_dir;
    meta["cache"] = o.cache;
    meta["corpus"] = in.corpus;
    meta["rows"] = N;
    meta["written"] = r.written;
    meta["top_fraction"] = o.top_fraction;
    meta["negative_scores"] = r.negative;
    meta["dtype"] = o.dtype;
    meta["params"] = in.layout.names();
    meta["param_count"] = in.layout.dim();
    for (auto& [key, value] : method_report.items()) meta[key] = value;
    if (Q > 0) {
      meta["queries"] = o.queries;
      meta["n_queries"] = Q;
      meta["target"] = o.target;
      meta["scores_out"] = o.scores_out;
      meta["query_sign"] = detail::kTracinQuerySign;
    }
    meta["batch"] = o.batch;
    meta["resumed_rows"] = r.resumed_rows;
    meta["timings"] = {{"setup_seconds", r.setup_seconds},
                       {"score_seconds", r.score_seconds},
                       {"total_seconds", r.seconds}};
    meta["ranks"] = comm.size();
    write_file_atomic(r.meta_path, meta.dump(2) + "\n");
  });
  // After a collective, so that no rank is still saving its state into it.
  r.negative = comm.all_reduce_value(r.negative);
  if (comm.is_root()) work.remove_all();
  r.seconds = since(t0);
  return r;
}

}  // namespace fathom::attrib
