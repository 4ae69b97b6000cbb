// TracIn (Pruthi et al. 2020) over the checkpoints `fathom train` saved:
// self-influence Σ_k η_k ‖∇L(z; θ_k)‖² and query scores Σ_k η_k
// ∇L(z_test; θ_k)·∇L(z; θ_k) (self_influence_internal.h).
#include <algorithm>

#include "fathom/core/log.h"
#include "fathom/core/progress.h"
#include "fathom/model/batching.h"
#include "self_influence_internal.h"

namespace fathom::attrib::detail {
namespace {

// [Q, P] float64 gradients of the queries at `labels`, in batches.
torch::Tensor query_gradients(grads::PerExampleGradients& gradients, const InfluenceInputs& in,
                              const std::vector<std::int64_t>& labels, std::int64_t batch) {
  const std::int64_t Q = std::int64_t(in.queries.size());
  std::vector<torch::Tensor> parts;
  for (std::int64_t b = 0; b < Q; b += batch) {
    const std::int64_t e = std::min(Q, b + batch);
    std::vector<data::Example> block(in.queries.begin() + b, in.queries.begin() + e);
    std::vector<std::int64_t> rows(std::size_t(e - b));
    std::iota(rows.begin(), rows.end(), b);
    model::Batch q = model::make_batch(block, *in.bundle.tokenizer, in.bundle.info.max_length, in.bundle.info.labels,
                                       rows)
                         .to(in.bundle.model->device());
    q.labels = torch::tensor(std::vector<std::int64_t>(labels.begin() + b, labels.begin() + e), torch::kLong)
                   .to(in.bundle.model->device());
    parts.push_back(gradients.compute(q, grads::LossTarget::gold).gradients.to(torch::kCPU).to(torch::kDouble));
  }
  return torch::cat(parts);
}

// Largest |a - b| between the model's parameters now and `before`.
double max_difference(model::Model& m, const std::vector<torch::Tensor>& before) {
  double worst = 0;
  const auto now = m.named_parameters();
  for (std::size_t i = 0; i < now.size(); ++i)
    worst = std::max(worst, (now[i].second.detach().to(torch::kDouble) - before[i]).abs().max().item<double>());
  return worst;
}

}  // namespace

TracinScores tracin_scores(const SelfInfluenceOptions& o, InfluenceInputs& in, const data::Range& shard,
                           const std::vector<std::int64_t>& query_labels, WorkFile& work, Progress& progress,
                           std::int64_t progress_scale) {
  TracinScores r;
  r.checkpoints = model::list_checkpoints(o.model_dir);
  model::Model& m = *in.bundle.model;
  torch::NoGradGuard no_grad;  // PerExampleGradients turns gradients on where it needs them
  std::vector<torch::Tensor> final_params;
  for (auto& [name, t] : m.named_parameters()) final_params.push_back(t.detach().to(torch::kDouble).clone());
  // The newest checkpoint should be the bundle's weights: otherwise the
  // checkpoints are probably of another training run.
  model::load_checkpoint(r.checkpoints.back(), m, nullptr);
  r.newest_checkpoint_difference = max_difference(m, final_params);

  const std::int64_t n = shard.end - shard.begin, Q = std::int64_t(in.queries.size());
  const std::int64_t K = std::int64_t(r.checkpoints.size());
  // State: [self (n) | cross (Q × n)], units of work = checkpoint × n + row.
  std::vector<double> state;
  WorkState saved = work.load(std::size_t(n + Q * n));
  std::int64_t done = 0;
  if (saved.done > 0 && saved.done <= K * n) {
    state = std::move(saved.values);
    done = saved.done;
  } else {
    state.assign(std::size_t(n + Q * n), 0.0);
  }
  r.resumed = done;
  progress.set_initial(done * progress_scale);
  grads::PerExampleGradients gradients(m, in.layout, nullptr);
  const TrainingRows rows = training_rows(in);
  for (std::int64_t k = 0; k < K && n > 0; ++k) {
    if ((k + 1) * n <= done) continue;  // finished before a resume
    const model::CheckpointInfo& ck = r.checkpoints[std::size_t(k)];
    model::load_checkpoint(ck, m, nullptr);
    const double eta = ck.lr;
    // Kept for every block of this checkpoint: computed once per checkpoint.
    const torch::Tensor gq = Q > 0 ? query_gradients(gradients, in, query_labels, o.batch) : torch::Tensor();
    for (std::int64_t b = shard.begin + std::max<std::int64_t>(0, done - k * n); b < shard.end; b += o.batch) {
      const std::int64_t e = std::min(shard.end, b + o.batch), at = b - shard.begin, w = e - b;
      // One gradient block serves both the self scores and the query scores.
      const torch::Tensor g = training_gradients(gradients, rows, b, e);
      const torch::Tensor self = (g * g).sum(1).contiguous();
      const double* sp = self.data_ptr<double>();
      for (std::int64_t j = 0; j < w; ++j) state[std::size_t(at + j)] += eta * sp[j];
      if (Q > 0) {
        const torch::Tensor c = gq.matmul(g.t()).contiguous();  // [Q, w]
        const double* cp = c.data_ptr<double>();
        for (std::int64_t q = 0; q < Q; ++q)
          for (std::int64_t j = 0; j < w; ++j) state[std::size_t(n + q * n + at + j)] += eta * cp[q * w + j];
      }
      done = k * n + at + w;
      work.maybe_save(done, state);
      progress.advance(w * progress_scale);
    }
    spdlog::debug("tracin: checkpoint epoch {} (lr {}) done", ck.epoch, eta);
  }
  work.maybe_save(done, state, true);
  r.self.assign(state.begin(), state.begin() + n);
  r.cross.assign(state.begin() + n, state.end());
  return r;
}

}  // namespace fathom::attrib::detail
