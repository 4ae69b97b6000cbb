// `fathom knn --audit`: training rows ranked by how many of their nearest
// training rows disagree with their label (knn.h; docs/methods.md §8-9).
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <numeric>

#include "fathom/attrib/knn.h"
#include "fathom/comm/collective_check.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"
#include "fathom/core/progress.h"
#include "fathom/index/sharded_index.h"
#include "fathom/store/cache_names.h"
#include "fathom/store/cache_reader.h"
#include "knn_internal.h"

namespace fathom::attrib {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// One training row's verdict: `differ` of its `found` neighbours carry
// another label.
struct Verdict {
  std::int64_t row = 0, differ = 0, found = 0;
};

// Largest disagreement first (compared as exact fractions), rows without
// neighbours last, ties by row.
bool more_suspicious(const Verdict& a, const Verdict& b) {
  if ((a.found == 0) != (b.found == 0)) return b.found == 0;
  const std::int64_t lhs = a.differ * b.found, rhs = b.differ * a.found;
  if (lhs != rhs) return lhs > rhs;
  return a.row < b.row;
}

// Rank 0, per block: each row's verdict from its k + 1 lists (the row itself
// dropped, the first k others kept), and the first `kept.k` of those
// neighbours into `kept` (the columns the output writes). Only the verdicts
// (24 bytes per row) and the written columns stay in memory, not N x k lists.
void keep_block(const index::Neighbors& lists, std::int64_t begin, std::int64_t k, const knn_detail::KnnTables& t,
                std::vector<Verdict>& verdicts, index::Neighbors& kept) {
  for (std::int64_t q = 0; q < lists.queries; ++q) {
    const std::int64_t row = begin + q;
    const std::int64_t own = t.labels[std::size_t(row)];
    Verdict v{row, 0, 0};
    for (std::int64_t j = 0; j < lists.k && v.found < k; ++j) {
      const std::size_t at = std::size_t(q * lists.k + j);
      const std::int64_t n = lists.rows[at];
      if (n < 0 || n == row) continue;
      if (v.found < kept.k) {
        kept.rows[std::size_t(row * kept.k + v.found)] = n;
        kept.distances[std::size_t(row * kept.k + v.found)] = lists.distances[at];
      }
      ++v.found;
      v.differ += t.labels[std::size_t(n)] != own ? 1 : 0;
    }
    if (own >= 0) verdicts.push_back(v);  // unlabelled: nothing to disagree with
  }
}

void write_ranking(const std::vector<Verdict>& verdicts, const index::Neighbors& kept, const knn_detail::KnnTables& t,
                   std::ostream& out) {
  std::int64_t rank = 0;
  for (const Verdict& v : verdicts) {
    nlohmann::ordered_json line;
    line["rank"] = ++rank;
    line["id"] = t.ids[std::size_t(v.row)];
    line["label"] = t.label_json(t.labels[std::size_t(v.row)]);
    line["disagreement"] = v.found > 0 ? nlohmann::ordered_json(double(v.differ) / double(v.found))
                                       : nlohmann::ordered_json();
    line["neighbors"] = knn_detail::neighbors_json(kept, v.row, t, -1, kept.k, nullptr);
    out << line.dump() << '\n';
  }
}

}  // namespace

AuditResult audit(const AuditOptions& o, comm::Communicator& comm) {
  const auto t0 = Clock::now();
  const knn_detail::KnnTables tables = knn_detail::load_tables(o, "knn --audit", 1, comm);
  std::unique_ptr<store::CacheReader> reader;
  std::unique_ptr<store::RowBlocks> blocks;
  comm::collective_check(comm, "reading the features of " + tables.cache_path, [&] {
    reader = std::make_unique<store::CacheReader>(store::CacheReader::open(tables.cache_path));
    blocks = std::make_unique<store::RowBlocks>(*reader, store::cache_names::dataset::kFeatures,
                                                store::RowRange{0, tables.rows}, o.memory_budget_bytes);
  });
  index::ShardedIndex index = index::ShardedIndex::open(o.index, comm, o.nprobe);

  // Every rank reads the same blocks (the search wants the same queries on
  // every rank); rank 0 keeps the lists.
  const index::Metric metric = tables.manifest.metric;
  const std::int64_t written = o.neighbors_written < 0 ? o.k : std::min(o.k, o.neighbors_written);
  std::vector<Verdict> verdicts;
  index::Neighbors kept;
  if (comm.is_root()) kept = index::Neighbors(tables.rows, written, metric);
  Progress progress("knn audit", tables.rows, "rows", o.progress_period_s);
  for (;;) {
    bool more = false;
    comm::collective_check(comm, "reading the features of " + tables.cache_path, [&] { more = blocks->next(); });
    if (!more) break;
    const index::Neighbors lists = index.search(blocks->data(), blocks->count(), o.k + 1);
    if (comm.is_root()) keep_block(lists, blocks->begin(), o.k, tables, verdicts, kept);
    progress.advance(blocks->count());
  }
  progress.finish();

  double sums[2] = {0, 0};  // labelled rows, sum of their disagreements (rank 0)
  comm::on_root(comm, "writing " + o.out, [&] {
    std::sort(verdicts.begin(), verdicts.end(), more_suspicious);
    const fs::path parent = fs::path(o.out).parent_path();
    if (!parent.empty()) fs::create_directories(parent);
    AtomicFile out(o.out);
    write_ranking(verdicts, kept, tables, out.stream());
    out.commit();
    std::int64_t with_neighbors = 0;
    for (const Verdict& v : verdicts)
      if (v.found > 0) {
        sums[1] += double(v.differ) / double(v.found);
        ++with_neighbors;
      }
    sums[0] = double(verdicts.size());
    nlohmann::ordered_json meta = knn_detail::common_meta(o, tables, "audit", comm.size());
    meta["n"] = tables.rows;
    meta["labelled"] = std::int64_t(verdicts.size());
    meta["mean_disagreement"] =
        with_neighbors > 0 ? nlohmann::ordered_json(sums[1] / double(with_neighbors)) : nlohmann::ordered_json();
    meta["seconds"] = std::chrono::duration<double>(Clock::now() - t0).count();
    knn_detail::write_meta(o.out, meta);
    if (with_neighbors > 0) sums[1] /= double(with_neighbors);
  });
  comm.broadcast(sums, 2, comm::DType::f64, 0);
  AuditResult r;
  r.rows = tables.rows;
  r.labelled = std::int64_t(sums[0]);
  if (r.labelled > 0) r.mean_disagreement = sums[1];
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

}  // namespace fathom::attrib
