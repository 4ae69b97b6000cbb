// KnnLookup (lookup.h): `fathom knn` for one example at a time, over a local
// communicator, with the same tables and JSON entries as knn.cpp.
#include <mutex>
#include <optional>

#include "fathom/attrib/lookup.h"
#include "fathom/attrib/query_features.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/index/sharded_index.h"
#include "knn_internal.h"
#include "training_texts.h"

namespace fathom::attrib {

struct KnnLookup::Impl {
  std::unique_ptr<comm::Communicator> comm;  // outlives the index (declared first)
  knn_detail::KnnTables tables;
  std::optional<index::ShardedIndex> index;
  mutable std::mutex search_mu;  // the index search (and its communicator) one call at a time
};

KnnLookup::KnnLookup(const KnnSources& sources) : impl_(std::make_unique<Impl>()) {
  KnnSources s = sources;
  s.k = 1;                             // load_tables checks k <= rows; each request checks its own k
  if (s.out.empty()) s.out = "(serve)";  // load_tables wants an output; nothing is written here
  impl_->comm = comm::make_communicator("local");
  impl_->tables = knn_detail::load_tables(s, "serve --index", 0, *impl_->comm);
  impl_->index.emplace(index::ShardedIndex::open(s.index, *impl_->comm, s.nprobe));
  const model::Bundle bundle = model::load_bundle(s.model_dir);
  if (bundle.model->hidden_dim() != impl_->tables.manifest.dim)
    throw InputError(s.index, 0, "dim",
                     "the index holds " + std::to_string(impl_->tables.manifest.dim) +
                         "-wide vectors, the model's features are " + std::to_string(bundle.model->hidden_dim()) +
                         " wide");
}

KnnLookup::~KnnLookup() = default;

std::int64_t KnnLookup::rows() const { return impl_->tables.rows; }
bool KnnLookup::has_texts() const { return impl_->tables.has_texts(); }
const std::string& KnnLookup::cache_path() const { return impl_->tables.cache_path; }

nlohmann::ordered_json KnnLookup::lookup(model::Bundle& bundle, const data::Example& example, std::int64_t k) const {
  const knn_detail::KnnTables& t = impl_->tables;
  if (k < 1 || k > t.rows)
    throw UsageError("k must be in [1, " + std::to_string(t.rows) + "] (the cache's rows), got " + std::to_string(k));
  const QueryFeatures q = compute_features_local(bundle, {example}, 1);
  index::Neighbors lists;
  {
    std::lock_guard<std::mutex> lock(impl_->search_mu);
    lists = impl_->index->search(q.features.data_ptr<float>(), 1, k);
  }
  const auto& labels = bundle.info.labels;
  const torch::Tensor probs = torch::softmax(q.logits.to(torch::kDouble), 1).contiguous();
  const std::int64_t prediction = q.predictions[0];
  nlohmann::ordered_json j;
  j["prediction"] = labels[std::size_t(prediction)];
  nlohmann::ordered_json p = nlohmann::ordered_json::object();
  for (std::size_t c = 0; c < labels.size(); ++c) p[labels[c]] = detail::round6(probs[0][std::int64_t(c)].item<double>());
  j["probs"] = std::move(p);
  std::vector<std::int64_t> rows;
  nlohmann::ordered_json neighbors = knn_detail::neighbors_json(lists, 0, t, -1, k, &rows);
  // Conformity as knn.h defines it: the share of neighbours with the predicted label.
  std::int64_t agree = 0;
  for (std::int64_t r : rows) agree += t.labels[std::size_t(r)] == prediction ? 1 : 0;
  j["conformity"] = rows.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(double(agree) / double(rows.size()));
  j["neighbors"] = std::move(neighbors);
  return j;
}

}  // namespace fathom::attrib
