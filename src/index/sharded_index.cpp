// Distributed search over a sharded index (sharded_index.h): shard s lives on
// rank s % size; local lists are merged locally, then across ranks.
#include "fathom/index/sharded_index.h"

#include <string>
#include <utility>
#include <vector>

#include "fathom/comm/collective_check.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/index/vector_index.h"

namespace fathom::index {

struct ShardedIndex::Impl {
  Manifest manifest;
  std::string path;
  comm::Communicator* comm = nullptr;
  std::vector<VectorIndex> shards;  // this rank's shards, in shard order
};

ShardedIndex::ShardedIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ShardedIndex::~ShardedIndex() = default;
ShardedIndex::ShardedIndex(ShardedIndex&&) noexcept = default;
ShardedIndex& ShardedIndex::operator=(ShardedIndex&&) noexcept = default;

ShardedIndex ShardedIndex::open(const std::string& manifest_path, comm::Communicator& comm, std::int64_t nprobe) {
  auto impl = std::make_unique<Impl>();
  impl->path = manifest_path;
  impl->comm = &comm;
  comm::collective_check(comm, "index: opening " + manifest_path, [&] {
    if (nprobe < 0) throw UsageError("index: nprobe must be >= 0 (0 = the manifest's), got " + std::to_string(nprobe));
    impl->manifest = Manifest::load(manifest_path);
    const Manifest& m = impl->manifest;
    const std::int64_t probes = nprobe > 0 ? nprobe : m.nprobe;
    for (std::size_t s = std::size_t(comm.rank()); s < m.shards.size(); s += std::size_t(comm.size())) {
      const ShardEntry& entry = m.shards[s];
      const std::string file = m.shard_path(manifest_path, s);
      VectorIndex shard = VectorIndex::read(file, m.metric, entry.row_begin);
      if (shard.size() != entry.row_end - entry.row_begin)
        throw InputError(file, "the shard holds " + std::to_string(shard.size()) + " rows; the manifest " +
                                   manifest_path + " says rows [" + std::to_string(entry.row_begin) + ", " +
                                   std::to_string(entry.row_end) + ")");
      if (shard.dim() != m.dim)
        throw InputError(file, "the shard holds vectors of dimension " + std::to_string(shard.dim()) +
                                   "; the manifest " + manifest_path + " says " + std::to_string(m.dim));
      if (probes > 0) shard.set_nprobe(probes);
      impl->shards.push_back(std::move(shard));
    }
  });
  return ShardedIndex(std::move(impl));
}

const Manifest& ShardedIndex::manifest() const { return impl_->manifest; }
const std::string& ShardedIndex::path() const { return impl_->path; }

Neighbors ShardedIndex::search(const float* queries, std::int64_t n, std::int64_t k) const {
  const Metric metric = impl_->manifest.metric;
  Neighbors local;
  comm::collective_check(*impl_->comm, "index: searching " + impl_->path, [&] {
    if (k < 1) throw UsageError("index: k must be >= 1, got " + std::to_string(k));
    if (n < 0) throw UsageError("index: cannot search " + std::to_string(n) + " queries");
    std::vector<Neighbors> parts;
    for (const VectorIndex& shard : impl_->shards) parts.push_back(shard.search(queries, n, k));
    local = parts.empty() ? Neighbors(n, k, metric) : merge_top_k(parts, k, metric);
  });
  return merge_across_ranks(local, k, metric, *impl_->comm);
}

}  // namespace fathom::index
