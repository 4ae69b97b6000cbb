// `fathom knn`: nearest training rows of query examples (knn.h).
#include "fathom/attrib/knn.h"

#include <chrono>
#include <filesystem>
#include <memory>

#include "fathom/attrib/query_features.h"
#include "fathom/comm/collective_check.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"
#include "fathom/core/log.h"
#include "fathom/core/progress.h"
#include "fathom/index/sharded_index.h"
#include "fathom/model/bundle.h"
#include "knn_internal.h"
#include "training_texts.h"

namespace fathom::attrib {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

void check_knn_options(const KnnOptions& o) {
  if (o.queries.empty()) throw UsageError("knn: no queries given (--queries)");
  if (o.batch < 1) throw UsageError("knn: --batch must be >= 1, got " + std::to_string(o.batch));
  if (o.block_queries < 1)
    throw UsageError("knn: block_queries must be >= 1, got " + std::to_string(o.block_queries));
}

struct Tally {
  std::int64_t queries = 0, with_neighbors = 0;
  double conformity_sum = 0;
};

// Rank 0: the output lines of one block.
void write_block(const std::vector<data::Example>& block, const QueryFeatures& q, const index::Neighbors& lists,
                 const model::Bundle& bundle, const knn_detail::KnnTables& tables, std::int64_t k, std::ostream& out,
                 Tally& tally) {
  const auto& labels = bundle.info.labels;
  torch::Tensor probs = torch::softmax(q.logits.to(torch::kDouble), 1).contiguous();
  auto P = probs.accessor<double, 2>();
  for (std::size_t i = 0; i < block.size(); ++i) {
    const std::int64_t prediction = q.predictions[i];
    nlohmann::ordered_json line;
    line["id"] = block[i].id;
    line["prediction"] = labels[std::size_t(prediction)];
    nlohmann::ordered_json p = nlohmann::ordered_json::object();
    for (std::size_t c = 0; c < labels.size(); ++c) p[labels[c]] = detail::round6(P[std::int64_t(i)][std::int64_t(c)]);
    line["probs"] = std::move(p);
    std::vector<std::int64_t> rows;
    nlohmann::ordered_json neighbors = knn_detail::neighbors_json(lists, std::int64_t(i), tables, -1, k, &rows);
    std::int64_t agree = 0;
    for (std::int64_t r : rows) agree += tables.labels[std::size_t(r)] == prediction ? 1 : 0;
    line["conformity"] = nullptr;
    if (!rows.empty()) {
      const double conformity = double(agree) / double(rows.size());
      line["conformity"] = conformity;
      tally.conformity_sum += conformity;
      ++tally.with_neighbors;
    }
    line["neighbors"] = std::move(neighbors);
    out << line.dump() << '\n';
    ++tally.queries;
  }
}

}  // namespace

KnnResult knn(const KnnOptions& o, comm::Communicator& comm) {
  const auto t0 = Clock::now();
  check_knn_options(o);
  const knn_detail::KnnTables tables = knn_detail::load_tables(o, "knn", 0, comm);
  model::configure_threads(o.threads);
  model::Bundle bundle;
  comm::collective_check(comm, "loading the model bundle " + o.model_dir, [&] {
    bundle = model::load_bundle(o.model_dir);
    if (bundle.model->hidden_dim() != tables.manifest.dim)
      throw InputError(o.index, 0, "dim",
                       "the index holds " + std::to_string(tables.manifest.dim) + "-wide vectors, the model's features are " +
                           std::to_string(bundle.model->hidden_dim()) + " wide");
  });
  std::int64_t total = 0;
  comm::collective_check(comm, "counting records of " + o.queries,
                         [&] { total = data::count_records(o.queries, o.query_options); });
  std::unique_ptr<data::CorpusReader> reader;
  comm::collective_check(comm, "opening " + o.queries,
                         [&] { reader = std::make_unique<data::CorpusReader>(o.queries, o.query_options); });
  index::ShardedIndex index = index::ShardedIndex::open(o.index, comm, o.nprobe);

  // Validated: from here on the output is written (rank 0, atomically).
  std::unique_ptr<AtomicFile> out;
  comm::on_root(comm, "opening " + o.out, [&] {
    const fs::path parent = fs::path(o.out).parent_path();
    if (!parent.empty()) fs::create_directories(parent);
    out = std::make_unique<AtomicFile>(o.out);
  });
  Progress progress("knn", total, "queries", o.progress_period_s);
  Tally tally;
  for (;;) {
    std::vector<data::Example> block;
    comm::collective_check(comm, "reading " + o.queries, [&] { block = data::read_up_to(*reader, o.block_queries); });
    if (block.empty()) break;
    const QueryFeatures q = compute_features(bundle, block, o.batch, comm);
    const index::Neighbors lists = index.search(q.features.data_ptr<float>(), q.size(), o.k);
    comm::on_root(comm, "writing " + o.out,
                  [&] { write_block(block, q, lists, bundle, tables, o.k, out->stream(), tally); });
    progress.advance(std::int64_t(block.size()));
  }
  progress.finish();
  if (comm.is_root() && reader->skipped() > 0)
    spdlog::warn("knn: {} bad query records of {} were skipped", reader->skipped(), o.queries);

  // Only rank 0 tallied: the sums make the result the same on every rank.
  double sums[3] = {double(tally.queries), double(tally.with_neighbors), tally.conformity_sum};
  comm.all_reduce(sums, 3, comm::DType::f64, comm::ReduceOp::sum);
  KnnResult r;
  r.queries = std::int64_t(sums[0]);
  if (sums[1] > 0) r.mean_conformity = sums[2] / sums[1];
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  comm::on_root(comm, "writing " + o.out, [&] {
    out->commit();
    nlohmann::ordered_json meta = knn_detail::common_meta(o, tables, "knn", comm.size());
    meta["queries"] = o.queries;
    meta["n"] = tally.queries;
    meta["mean_conformity"] = r.mean_conformity ? nlohmann::ordered_json(*r.mean_conformity) : nlohmann::ordered_json();
    meta["seconds"] = r.seconds;
    knn_detail::write_meta(o.out, meta);
  });
  return r;
}

}  // namespace fathom::attrib
