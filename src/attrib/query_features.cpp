// Query features (query_features.h): the same forward `fathom cache` runs.
#include "fathom/attrib/query_features.h"

#include <algorithm>

#include "fathom/comm/collective_check.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/data/shard.h"
#include "fathom/model/batching.h"

namespace fathom::attrib {
namespace {

// Examples [begin, end) without their labels: queries may carry any label.
std::vector<data::Example> unlabelled(const std::vector<data::Example>& examples, std::int64_t begin,
                                      std::int64_t end) {
  std::vector<data::Example> out(examples.begin() + begin, examples.begin() + end);
  for (auto& e : out) e.label.reset();
  return out;
}

// Examples [begin, end) batched from `begin` in runs of `batch`.
QueryFeatures compute_range(model::Bundle& bundle, const std::vector<data::Example>& examples, std::int64_t begin,
                            std::int64_t end, std::int64_t batch) {
  QueryFeatures q;
  const std::int64_t H = bundle.model->hidden_dim(), C = bundle.model->num_labels();
  q.features = torch::empty({end - begin, H}, torch::kFloat);
  q.logits = torch::empty({end - begin, C}, torch::kFloat);
  if (end <= begin) return q;
  bundle.model->train(false);
  torch::NoGradGuard no_grad;
  for (std::int64_t b0 = begin; b0 < end; b0 += batch) {
    const std::int64_t b1 = std::min(end, b0 + batch);
    std::vector<std::int64_t> rows(std::size_t(b1 - b0));
    for (std::int64_t i = b0; i < b1; ++i) rows[std::size_t(i - b0)] = i;
    model::Batch x = model::make_batch(unlabelled(examples, b0, b1), *bundle.tokenizer, bundle.info.max_length,
                                       bundle.info.labels, rows)
                         .to(bundle.model->device());
    model::ModelOutput out = bundle.model->forward(x);
    q.features.narrow(0, b0 - begin, b1 - b0).copy_(out.features.detach().to(torch::kCPU, torch::kFloat));
    q.logits.narrow(0, b0 - begin, b1 - b0).copy_(out.logits.detach().to(torch::kCPU, torch::kFloat));
  }
  torch::Tensor pred = q.logits.argmax(1).contiguous();
  q.predictions.assign(pred.data_ptr<std::int64_t>(), pred.data_ptr<std::int64_t>() + pred.numel());
  return q;
}

}  // namespace

QueryFeatures compute_features_local(model::Bundle& bundle, const std::vector<data::Example>& examples,
                                     std::int64_t batch) {
  if (batch < 1) throw UsageError("query features: --batch must be >= 1, got " + std::to_string(batch));
  return compute_range(bundle, examples, 0, std::int64_t(examples.size()), batch);
}

QueryFeatures compute_features(model::Bundle& bundle, const std::vector<data::Example>& examples, std::int64_t batch,
                               comm::Communicator& comm) {
  if (batch < 1) throw UsageError("query features: --batch must be >= 1, got " + std::to_string(batch));
  const std::int64_t n = std::int64_t(examples.size());
  const std::int64_t batches = (n + batch - 1) / batch;
  const data::Range mine = data::shard_range(batches, comm.rank(), comm.size());
  const std::int64_t begin = std::min(n, mine.begin * batch), end = std::min(n, mine.end * batch);
  QueryFeatures local;
  comm::collective_check(comm, "computing query features",
                         [&] { local = compute_range(bundle, examples, begin, end, batch); });

  // Rank order == record order: the concatenations are the block.
  const std::int64_t H = bundle.model->hidden_dim(), C = bundle.model->num_labels();
  auto gather = [&](const torch::Tensor& t, std::int64_t width) {
    torch::Tensor c = t.contiguous();
    std::vector<std::uint8_t> all = comm.all_gatherv(c.data_ptr<float>(), c.numel(), comm::DType::f32);
    torch::Tensor out = torch::empty({n, width}, torch::kFloat);
    if (all.size() != std::size_t(n * width) * sizeof(float))
      throw Error("query features: gathered " + std::to_string(all.size()) + " bytes, expected " +
                  std::to_string(n * width * 4));
    std::copy(all.begin(), all.end(), reinterpret_cast<std::uint8_t*>(out.data_ptr<float>()));
    return out;
  };
  QueryFeatures q;
  q.features = gather(local.features, H);
  q.logits = gather(local.logits, C);
  std::vector<std::uint8_t> pred =
      comm.all_gatherv(local.predictions.data(), std::int64_t(local.predictions.size()), comm::DType::i64);
  q.predictions.resize(std::size_t(n));
  std::copy(pred.begin(), pred.end(), reinterpret_cast<std::uint8_t*>(q.predictions.data()));
  return q;
}

}  // namespace fathom::attrib
