// One data-parallel gradient computation, and sharded evaluation.
#include <algorithm>

#include "fathom/core/error.h"
#include "fathom/model/batching.h"
#include "train_internal.h"

namespace fathom::model {
namespace {

// Summed cross-entropy of a batch; rows labelled data::kNoLabel add nothing
// (torch's ignore_index), so an unlabelled row changes neither loss nor gradient.
torch::Tensor summed_loss(const torch::Tensor& logits, const torch::Tensor& labels) {
  namespace F = torch::nn::functional;
  return F::cross_entropy(logits, labels,
                          F::CrossEntropyFuncOptions().reduction(torch::kSum).ignore_index(data::kNoLabel));
}

}  // namespace

GradientReducer::GradientReducer(std::vector<torch::Tensor> params, torch::Tensor classifier_weight,
                                 double l2_last)
    : params_(std::move(params)), classifier_weight_(std::move(classifier_weight)), l2_last_(l2_last) {
  if (params_.empty()) throw Error("GradientReducer: model has no parameters");
  for (const auto& p : params_) numel_ += p.numel();
  flat_ = torch::zeros({numel_ + 2}, params_.front().options().requires_grad(false));
  std::int64_t offset = 0;
  for (const auto& p : params_) {
    views_.push_back(flat_.narrow(0, offset, p.numel()).view(p.sizes()));
    offset += p.numel();
  }
  attach_views();
}

void GradientReducer::attach_views() {
  for (std::size_t i = 0; i < params_.size(); ++i) params_[i].mutable_grad() = views_[i];
}

GradientReducer::Stats GradientReducer::compute(Model& model, const Batch& local, std::int64_t global_count,
                                                comm::Communicator& comm) {
  flat_.zero_();
  attach_views();  // cheap; guards against anyone having reset .grad()
  if (local.size() > 0) {
    ModelOutput out = model.forward(local);
    // SUM, not mean: the ranks' sums add up to the global batch's sum.
    torch::Tensor loss = summed_loss(out.logits, local.labels);
    loss.backward();
    torch::NoGradGuard no_grad;
    flat_[numel_] = loss.detach();
    flat_[numel_ + 1] = out.logits.argmax(1).eq(local.labels).sum();
    // Autograd accumulates in place into a defined grad, so the views keep
    // receiving the gradient; if some op replaced a grad, copy it back.
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const torch::Tensor& g = params_[i].grad();
      if (g.defined() && !g.is_same(views_[i])) views_[i].copy_(g);
    }
    attach_views();
  }
  comm.all_reduce(flat_.data_ptr(), flat_.numel(), comm_dtype(flat_.scalar_type()), comm::ReduceOp::sum);

  torch::NoGradGuard no_grad;
  Stats stats;
  stats.loss_sum = flat_[numel_].item<double>();
  stats.correct = static_cast<std::int64_t>(std::llround(flat_[numel_ + 1].item<double>()));
  flat_.narrow(0, 0, numel_).div_(double(std::max<std::int64_t>(global_count, 1)));
  // d/dW of l2 * ||W||^2, added once after the reduction (every rank holds
  // the same W, so every rank adds the same term).
  if (l2_last_ != 0.0) classifier_weight_.grad().add_(classifier_weight_.detach(), 2.0 * l2_last_);
  return stats;
}

EvalStats evaluate(Model& model, const std::vector<data::Example>& examples, const data::Tokenizer& tokenizer,
                   std::int64_t max_length, const std::vector<std::string>& labels, std::int64_t batch,
                   comm::Communicator& comm) {
  const bool was_training = model.is_training();
  model.train(false);
  torch::NoGradGuard no_grad;
  const data::Range mine = data::shard_range(std::int64_t(examples.size()), comm.rank(), comm.size());
  double sums[3] = {0, 0, 0};  // loss, correct, count
  std::vector<data::Example> chunk;
  std::vector<std::int64_t> rows;
  for (std::int64_t b = mine.begin; b < mine.end; b += batch) {
    const std::int64_t e = std::min(mine.end, b + batch);
    chunk.assign(examples.begin() + b, examples.begin() + e);
    rows.resize(std::size_t(e - b));
    for (std::int64_t i = b; i < e; ++i) rows[std::size_t(i - b)] = i;
    Batch x = make_batch(chunk, tokenizer, max_length, labels, rows);
    torch::Tensor logits = model.forward(x).logits;
    sums[0] += summed_loss(logits, x.labels).item<double>();
    sums[1] += double(logits.argmax(1).eq(x.labels).sum().item<std::int64_t>());
    sums[2] += double(x.labels.ne(data::kNoLabel).sum().item<std::int64_t>());  // labelled rows
  }
  comm.all_reduce(sums, 3, comm::DType::f64, comm::ReduceOp::sum);
  model.train(was_training);
  EvalStats s;
  s.loss_sum = sums[0];
  s.correct = std::int64_t(std::llround(sums[1]));
  s.count = std::int64_t(std::llround(sums[2]));
  return s;
}

}  // namespace fathom::model
