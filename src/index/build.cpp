// build_index (build.h): validate everything, draw a seeded training sample
// that does not depend on the rank count, train on rank 0, every rank fills
// and writes its shard, rank 0 writes the manifest last.
#include "fathom/index/build.h"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <queue>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "fathom/core/clock.h"
#include "fathom/comm/collective_check.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/build_info.h"
#include "fathom/core/error.h"
#include "fathom/core/progress.h"
#include "fathom/index/threads.h"
#include "fathom/index/vector_index.h"
#include "fathom/store/cache_reader.h"
#include "fathom/store/schema.h"

namespace fathom::index {

std::int64_t default_nprobe(std::int64_t nlist) { return std::min<std::int64_t>(nlist, 16); }

namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kDefaultTrainSample = 100000;

// The shard file of rank-shard s of S, beside the manifest.
std::string shard_file_name(const std::string& out, int s, int shards) {
  return fs::path(out).filename().string() + ".shard-" + std::to_string(s) + "-of-" + std::to_string(shards);
}

// splitmix64: a well-mixed 64-bit key per (seed, row).
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// The training sample: the `count` rows with the smallest key (seed, row),
// ties by row, in row order. Every rank computes the same set from the row
// count alone (no data read), so it does not depend on the number of ranks.
std::vector<std::int64_t> sample_rows(std::int64_t rows, std::int64_t count, std::uint64_t seed) {
  std::vector<std::int64_t> out;
  if (count >= rows) {
    out.resize(std::size_t(rows));
    for (std::int64_t r = 0; r < rows; ++r) out[std::size_t(r)] = r;
    return out;
  }
  using Key = std::pair<std::uint64_t, std::int64_t>;
  std::priority_queue<Key> largest_kept;  // max-heap of the `count` smallest keys seen
  const std::uint64_t salt = mix(seed ^ 0x66617468'6f6d6978ull);
  for (std::int64_t r = 0; r < rows; ++r) {
    const Key key{mix(salt ^ std::uint64_t(r)), r};
    if (std::int64_t(largest_kept.size()) < count) {
      largest_kept.push(key);
    } else if (key < largest_kept.top()) {
      largest_kept.pop();
      largest_kept.push(key);
    }
  }
  out.reserve(std::size_t(count));
  for (; !largest_kept.empty(); largest_kept.pop()) out.push_back(largest_kept.top().second);
  std::sort(out.begin(), out.end());
  return out;
}

void validate_options(const BuildOptions& o) {
  if (o.cache.empty()) throw UsageError("index: --cache is required");
  if (o.out.empty()) throw UsageError("index: --out is required");
  if (o.field != "features" && o.field != "gradients")
    throw UsageError("index: --field must be features or gradients, got '" + o.field + "'");
  metric_from_name(o.metric);
  if (o.spec.empty()) throw UsageError("index: --spec must not be empty (e.g. Flat, IVF256,Flat, HNSW32)");
  if (o.train_sample < 0)
    throw UsageError("index: --train-sample must be >= 0 (0 = min(rows, 100000)), got " + std::to_string(o.train_sample));
  if (o.nprobe < 0) throw UsageError("index: --nprobe must be >= 0 (0 = min(nlist, 16)), got " + std::to_string(o.nprobe));
  if (o.memory_budget_bytes == 0) throw UsageError("index: the memory budget must be > 0");
}

// Rank 0: the output may be written (directory exists; an existing file only
// with overwrite). Returns the shard files an existing manifest names, to be
// removed once the new manifest is in place.
std::vector<std::string> check_output(const BuildOptions& o) {
  const fs::path out(o.out);
  const fs::path dir = out.has_parent_path() ? out.parent_path() : fs::path(".");
  if (!fs::is_directory(dir)) throw InputError(o.out, "the output directory " + dir.string() + " does not exist");
  if (fs::is_directory(out)) throw InputError(o.out, "is a directory; --out names the manifest file");
  std::vector<std::string> old_shards;
  if (fs::exists(out)) {
    if (!o.overwrite)
      throw UsageError("index: " + o.out + " exists; pass --overwrite to replace it (nothing was written)");
    try {
      const Manifest old = Manifest::load(o.out);
      for (std::size_t s = 0; s < old.shards.size(); ++s) old_shards.push_back(old.shard_path(o.out, s));
    } catch (const InputError&) {
      // Not a manifest we can read: it is replaced; there are no shards to clean.
    }
  }
  return old_shards;
}

// This rank's rows of the training sample, read in row blocks.
std::vector<float> read_sample(const store::CacheReader& cache, const std::string& field, store::RowRange mine,
                               const std::vector<std::int64_t>& sample, std::int64_t dim, std::size_t budget) {
  auto first = std::lower_bound(sample.begin(), sample.end(), mine.begin);
  auto last = std::lower_bound(sample.begin(), sample.end(), mine.end());
  std::vector<float> out;
  if (first == last) return out;
  out.reserve(std::size_t((last - first) * dim));
  store::RowBlocks blocks(cache, field, {*first, *(last - 1) + 1 - *first}, budget);
  auto next = first;
  while (next != last && blocks.next()) {
    const std::int64_t end = blocks.begin() + blocks.count();
    for (; next != last && *next < end; ++next) {
      const float* row = blocks.data() + (*next - blocks.begin()) * dim;
      out.insert(out.end(), row, row + dim);
    }
  }
  return out;
}

}  // namespace

Manifest build_index(const BuildOptions& o, comm::Communicator& comm) {
  use_threads(o.threads);
  Metric metric = Metric::l2;
  comm::collective_check(comm, "index: options", [&] {
    validate_options(o);
    metric = metric_from_name(o.metric);
  });
  std::vector<std::string> old_shards;
  comm::on_root(comm, "index: output " + o.out, [&] { old_shards = check_output(o); });

  // The cache: complete, with a float dataset to index.
  std::unique_ptr<store::CacheReader> cache;
  std::int64_t dim = 0;
  comm::collective_check(comm, "index: reading " + o.cache, [&] {
    cache = std::make_unique<store::CacheReader>(store::CacheReader::open(o.cache));
    if (!cache->is_complete())
      throw InputError(o.cache, "the cache is incomplete (" + std::to_string(cache->completed_chunk_count()) + " of " +
                                    std::to_string(cache->num_chunks()) + " chunks); finish it with `fathom cache` first");
    const store::DatasetSpec* spec = cache->schema().find(o.field);
    if (!spec) throw InputError(o.cache, 0, o.field, "no dataset /" + o.field + " in this cache");
    if (spec->type != store::ElementType::f32 && spec->type != store::ElementType::f16)
      throw InputError(o.cache, 0, o.field,
                       std::string("expected a float dataset (f32 or f16), got ") + store::element_type_name(spec->type));
    dim = spec->values_per_row();
  });
  const std::int64_t rows = cache->rows();

  // The spec, on every rank: FAISS rejects it here, before anything is written.
  std::unique_ptr<VectorIndex> index;
  comm::collective_check(comm, "index: spec " + o.spec, [&] {
    index = std::make_unique<VectorIndex>(o.spec, metric, dim);
    if (o.nprobe > 0 && index->nlist() == 0)
      throw UsageError("index: --nprobe applies to IVF indexes; spec '" + o.spec + "' has no IVF layer");
  });

  Manifest m;
  m.spec = o.spec;
  m.metric = metric;
  m.normalized = metric == Metric::cosine;
  m.field = o.field;
  m.dim = dim;
  m.rows = rows;
  m.seed = o.seed;
  m.cache_path = o.cache;
  m.fathom_version = FATHOM_VERSION_STRING;
  comm::on_root(comm, "index: cache identity", [&] {
    m.cache_identity = cache_identity(*cache);
    m.cache_provenance = cache_provenance(*cache);
    m.created_at = utc_timestamp();
  });

  const store::RowRange mine = store::shard_rows(rows, comm.rank(), comm.size());
  // Training: a seeded sample gathered on rank 0 in row order; rank 0
  // trains and every rank starts from its serialised, trained, empty index.
  if (index->needs_training()) {
    const std::int64_t wanted = o.train_sample > 0 ? o.train_sample : std::min(rows, kDefaultTrainSample);
    const std::vector<std::int64_t> sample = sample_rows(rows, std::min(wanted, rows), o.seed);
    m.train_rows = std::int64_t(sample.size());
    std::vector<float> my_sample;
    comm::collective_check(comm, "index: reading the training sample", [&] {
      my_sample = read_sample(*cache, o.field, mine, sample, dim, o.memory_budget_bytes);
    });
    const std::vector<std::uint8_t> gathered =
        comm.gatherv(my_sample.data(), std::int64_t(my_sample.size()), comm::DType::f32, 0);
    my_sample = {};
    std::vector<std::uint8_t> trained;
    comm::on_root(comm, "index: training " + o.spec + " on " + std::to_string(m.train_rows) + " rows", [&] {
      index->train(reinterpret_cast<const float*>(gathered.data()), m.train_rows);
      trained = index->to_bytes();
    });
    comm.broadcast(trained, 0);
    comm::collective_check(comm, "index: the trained index", [&] {
      index = std::make_unique<VectorIndex>(VectorIndex::from_bytes(trained, metric, mine.begin));
    });
  }
  if (index->nlist() > 0) m.nprobe = o.nprobe > 0 ? o.nprobe : default_nprobe(index->nlist());

  // Nothing was written so far. An overwritten manifest goes first, so no
  // manifest ever names a shard file that is being replaced.
  comm::on_root(comm, "index: replacing " + o.out, [&] {
    std::error_code ec;
    if (fs::exists(o.out) && !fs::remove(o.out, ec))
      throw InputError(o.out, "cannot remove the existing manifest: " + ec.message());
  });

  const std::string shard_path =
      (fs::path(o.out).parent_path() / shard_file_name(o.out, comm.rank(), comm.size())).string();
  std::int64_t shard_bytes = 0;
  comm::collective_check(comm, "index: filling and writing the shards", [&] {
    Progress progress("index (rank 0's rows)", mine.count, "rows", o.progress_period_s);
    store::RowBlocks blocks(*cache, o.field, mine, o.memory_budget_bytes);
    index->add(nullptr, 0, mine.begin);
    while (blocks.next()) {
      index->add(blocks.data(), blocks.count(), blocks.begin());
      progress.advance(blocks.count());
    }
    progress.finish();
    index->write(shard_path);
    shard_bytes = std::int64_t(fs::file_size(shard_path));
  });

  const std::vector<std::int64_t> bytes = comm.all_gather_value(shard_bytes);
  for (int s = 0; s < comm.size(); ++s) {
    const store::RowRange r = store::shard_rows(rows, s, comm.size());
    m.shards.push_back({shard_file_name(o.out, s, comm.size()), r.begin, r.end(), bytes[std::size_t(s)]});
  }
  std::string text;
  comm::on_root(comm, "index: writing the manifest " + o.out, [&] {
    m.save(o.out);
    // Shards of a replaced index that the new one does not reuse.
    std::set<std::string> kept;
    for (std::size_t s = 0; s < m.shards.size(); ++s) kept.insert(fs::weakly_canonical(m.shard_path(o.out, s)).string());
    for (const std::string& old : old_shards) {
      std::error_code ec;
      if (!kept.count(fs::weakly_canonical(old, ec).string())) fs::remove(old, ec);
    }
    text = m.to_json();
  });
  comm.broadcast(text, 0);
  return Manifest::from_json(text, o.out);
}

}  // namespace fathom::index
