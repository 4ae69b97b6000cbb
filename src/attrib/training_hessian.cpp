#include "fathom/attrib/training_hessian.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "fathom/core/error.h"
#include "fathom/data/example.h"
#include "fathom/data/shard.h"

namespace fathom::attrib {
namespace {

std::vector<torch::Tensor> parameter_tensors(const grads::ParamLayout& layout) {
  std::vector<torch::Tensor> out;
  for (const auto& p : layout.params()) out.push_back(p.tensor);
  return out;
}

// Σ_b CE(logits_b, y_b) over rows with a label (rows without one add nothing).
torch::Tensor summed_loss(const torch::Tensor& logits, const torch::Tensor& labels) {
  return torch::nn::functional::cross_entropy(
      logits, labels.to(logits.device()),
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum).ignore_index(data::kNoLabel));
}

}  // namespace

std::vector<torch::Tensor> unflatten(const grads::ParamLayout& layout, const torch::Tensor& flat_row) {
  if (flat_row.dim() != 1 || flat_row.size(0) != layout.dim())
    throw UsageError("unflatten: expected a [" + std::to_string(layout.dim()) + "] vector");
  std::vector<torch::Tensor> out;
  for (const auto& p : layout.params()) out.push_back(flat_row.narrow(0, p.offset, p.numel).view(p.shape));
  return out;
}

torch::Tensor flatten(const std::vector<torch::Tensor>& per_param) {
  std::vector<torch::Tensor> flat;
  for (const auto& t : per_param) flat.push_back(t.reshape({-1}));
  return torch::cat(flat);
}

TrainingHessian::TrainingHessian(model::Model& model, grads::ParamLayout layout, TrainingRows data,
                                 comm::Communicator& comm, std::int64_t batch_rows)
    : model_(&model), layout_(std::move(layout)), data_(std::move(data)), comm_(&comm), batch_rows_(batch_rows) {
  if (batch_rows_ < 1) throw UsageError("TrainingHessian: batch_rows must be >= 1");
  if (data_.rows < 1) throw UsageError("the training corpus has no rows: the Hessian needs at least one");
  if (!data_.make_batch) throw UsageError("TrainingHessian: TrainingRows::make_batch is empty");
  model_->train(false);
}

torch::Tensor TrainingHessian::local_hvp_sum(const torch::Tensor& v, const std::vector<std::int64_t>& rows) {
  const std::int64_t m = v.size(0), P = layout_.dim();
  torch::Tensor total = torch::zeros({m, P}, torch::kDouble);
  if (rows.empty()) return total;
  const std::vector<torch::Tensor> params = parameter_tensors(layout_);
  const auto opts = params.front().options();
  const torch::Tensor v_model = v.to(opts.dtype()).to(opts.device());
  torch::AutoGradMode enable(true);
  for (std::size_t start = 0; start < rows.size(); start += std::size_t(batch_rows_)) {
    const std::size_t end = std::min(rows.size(), start + std::size_t(batch_rows_));
    std::vector<std::int64_t> chunk(rows.begin() + std::ptrdiff_t(start), rows.begin() + std::ptrdiff_t(end));
    model::Batch batch = data_.make_batch(chunk);
    // A batch whose rows all lack a gold label adds nothing (as such rows do
    // inside a batch: ignore_index); load_influence_inputs refuses a corpus
    // without any label.
    if (!batch.labels.defined()) continue;
    model::ModelOutput out = model_->forward(batch);
    torch::Tensor loss = summed_loss(out.logits, batch.labels);
    std::vector<torch::Tensor> g = torch::autograd::grad({loss}, params, {}, /*retain_graph=*/true,
                                                         /*create_graph=*/true, /*allow_unused=*/true);
    for (std::size_t i = 0; i < g.size(); ++i)
      if (!g[i].defined()) g[i] = torch::zeros_like(params[i]).requires_grad_(false);
    const torch::Tensor g_flat = flatten(g);
    if (!g_flat.requires_grad()) continue;  // the loss does not depend on these parameters twice: H = 0
    for (std::int64_t j = 0; j < m; ++j) {
      torch::Tensor dot = (g_flat * v_model[j]).sum();
      std::vector<torch::Tensor> hv = torch::autograd::grad({dot}, params, {}, /*retain_graph=*/j + 1 < m,
                                                            /*create_graph=*/false, /*allow_unused=*/true);
      for (std::size_t i = 0; i < hv.size(); ++i)
        if (!hv[i].defined()) hv[i] = torch::zeros_like(params[i]);
      total[j] += flatten(hv).to(torch::kCPU).to(torch::kDouble);
    }
    rows_evaluated_ += std::int64_t(chunk.size());
  }
  return total;
}

torch::Tensor TrainingHessian::hvp(const torch::Tensor& v, const std::vector<std::int64_t>& rows) {
  if (v.dim() != 2 || v.size(1) != layout_.dim())
    throw UsageError("TrainingHessian::hvp: V must be [m," + std::to_string(layout_.dim()) + "]");
  if (rows.empty()) throw UsageError("TrainingHessian::hvp: empty mini-batch");
  const data::Range mine = data::shard_range(std::int64_t(rows.size()), comm_->rank(), comm_->size());
  std::vector<std::int64_t> local(rows.begin() + mine.begin, rows.begin() + mine.end);
  torch::Tensor sum = local_hvp_sum(v.to(torch::kDouble).contiguous(), local).contiguous();
  comm_->all_reduce(sum.data_ptr<double>(), sum.numel(), comm::DType::f64, comm::ReduceOp::sum);
  return sum / double(rows.size());
}

torch::Tensor TrainingHessian::hvp_local(const torch::Tensor& v, const std::vector<std::int64_t>& rows) {
  if (v.dim() != 2 || v.size(1) != layout_.dim())
    throw UsageError("TrainingHessian::hvp_local: V must be [m," + std::to_string(layout_.dim()) + "]");
  if (rows.empty()) throw UsageError("TrainingHessian::hvp_local: empty mini-batch");
  return local_hvp_sum(v.to(torch::kDouble).contiguous(), rows) / double(rows.size());
}

torch::Tensor TrainingHessian::full_hvp(const torch::Tensor& v) {
  if (v.dim() != 2 || v.size(1) != layout_.dim())
    throw UsageError("TrainingHessian::full_hvp: V must be [m," + std::to_string(layout_.dim()) + "]");
  const data::Range mine = data::shard_range(data_.rows, comm_->rank(), comm_->size());
  std::vector<std::int64_t> local(std::size_t(mine.end - mine.begin));
  std::iota(local.begin(), local.end(), mine.begin);
  torch::Tensor sum = local_hvp_sum(v.to(torch::kDouble).contiguous(), local).contiguous();
  comm_->all_reduce(sum.data_ptr<double>(), sum.numel(), comm::DType::f64, comm::ReduceOp::sum);
  return sum / double(data_.rows);
}

std::vector<std::int64_t> TrainingHessian::sample_rows(std::uint64_t seed, std::int64_t step,
                                                       std::int64_t size) const {
  // A generator per (seed, step): batch `step` is the same whatever was drawn
  // before it, so repeats and resumes need no shared stream state.
  std::seed_seq seq{std::uint32_t(seed), std::uint32_t(seed >> 32), std::uint32_t(step), std::uint32_t(step >> 32)};
  std::mt19937_64 gen(seq);
  const std::int64_t n = data_.rows;
  size = std::min(size, n);
  std::vector<std::int64_t> out;
  out.reserve(std::size_t(size));
  if (size * 4 >= n) {  // dense: partial Fisher-Yates over all rows
    std::vector<std::int64_t> all(static_cast<std::size_t>(n));
    std::iota(all.begin(), all.end(), 0);
    for (std::int64_t i = 0; i < size; ++i) {
      std::uniform_int_distribution<std::int64_t> pick(i, n - 1);
      std::swap(all[std::size_t(i)], all[std::size_t(pick(gen))]);
      out.push_back(all[std::size_t(i)]);
    }
  } else {  // sparse: rejection of repeats
    std::uniform_int_distribution<std::int64_t> pick(0, n - 1);
    while (std::int64_t(out.size()) < size) {
      std::int64_t r = pick(gen);
      if (std::find(out.begin(), out.end(), r) == out.end()) out.push_back(r);
    }
  }
  return out;
}

}  // namespace fathom::attrib
