#pragma once
// The manifest of a sharded FAISS index over one dataset of a fathom cache
// (`fathom index`): what the other commands take (`--index I.faiss` names the
// manifest file). It records how the index was built, which cache it belongs
// to, and which shard file holds which contiguous range of cache rows.
//
// On disk: JSON (format "fathom.index", format_version 1), written last and
// atomically by rank 0, so a manifest that exists names complete shard files.
// Shard files sit beside it: "<manifest>.shard-<s>-of-<S>" (FAISS's own
// write_index format). Cosine indexes hold L2-normalised vectors under the
// inner-product metric ("normalized": true).
//
// Any rank, any thread: plain values, no MPI, no FAISS.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace fathom::store {
class CacheReader;
}

namespace fathom::index {

inline constexpr const char* kIndexFormat = "fathom.index";
inline constexpr std::int64_t kIndexFormatVersion = 1;

// l2: squared Euclidean distance, smaller is nearer (FAISS METRIC_L2).
// ip: inner product, larger is nearer (METRIC_INNER_PRODUCT).
// cosine: ip over L2-normalised vectors (queries are normalised too).
enum class Metric { l2, ip, cosine };
const char* metric_name(Metric metric);
// UsageError naming the accepted values for anything but l2|ip|cosine.
Metric metric_from_name(const std::string& name);
// True when larger values are nearer (ip, cosine).
bool larger_is_nearer(Metric metric);

struct ShardEntry {
  std::string file;            // file name, relative to the manifest's directory
  std::int64_t row_begin = 0;  // first cache row of the shard
  std::int64_t row_end = 0;    // one past the last; shard-local id i is cache row row_begin + i
  std::int64_t bytes = 0;      // size of the shard file when written
};

struct Manifest {
  std::string spec;                 // FAISS index_factory string, as given ("IVF256,Flat")
  Metric metric = Metric::l2;
  bool normalized = false;          // vectors L2-normalised before add/search (cosine)
  std::int64_t nprobe = 0;          // search-time nprobe for IVF indexes; 0 = not IVF
  std::string field;                // cache dataset indexed: "features" | "gradients"
  std::int64_t dim = 0;             // values per row
  std::int64_t rows = 0;            // cache rows covered (all of them)
  std::int64_t train_rows = 0;      // rows the index was trained on (0 if it needs no training)
  std::uint64_t seed = 0;           // training-sample seed
  std::string cache_path;           // as given at build time (recorded, not compared)
  std::string cache_identity;       // cache_identity() of that cache
  // The provenance attributes cache_identity() covers, as text (present ones
  // only), so a mismatch can be named ("model_sha256: index built from X, ...").
  std::map<std::string, std::string> cache_provenance;
  std::vector<ShardEntry> shards;   // contiguous, in row order, covering [0, rows)
  std::string fathom_version;
  std::string created_at;           // UTC ISO 8601

  std::string to_json() const;
  // InputError naming `source` and the field for anything malformed,
  // another format, a newer format_version, or shards that do not tile [0, rows).
  static Manifest from_json(const std::string& text, const std::string& source);
  // Reads / atomically writes the file (core/atomic_file.h).
  static Manifest load(const std::string& path);
  void save(const std::string& path) const;
  // Path of shard s next to the manifest at `manifest_path`.
  std::string shard_path(const std::string& manifest_path, std::size_t s) const;
};

// SHA-256 over what makes a cache the same cache for an index: its row count,
// its ids (in order), and the model/corpus provenance attributes
// (model_sha256, corpus_sha256, params, projection, dtype, target), so an
// index cannot be used with a cache of other rows or another model.
std::string cache_identity(const store::CacheReader& cache);
// The attributes cache_identity() covers that `cache` has, name -> text.
std::map<std::string, std::string> cache_provenance(const store::CacheReader& cache);

// InputError if `cache` is not the cache `manifest` was built from, naming the
// manifest, the cache and what differs (rows, identity, missing field or its
// width).
void check_same_cache(const Manifest& manifest, const std::string& manifest_path, const store::CacheReader& cache);

}  // namespace fathom::index
