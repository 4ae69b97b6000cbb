// FAISS indexes over a synthetic cache, side by side in one run (not a test:
// run by hand and by `tools/bench index`):
//   [mpirun -np R] index_bench [--rows 1000000] [--dim 128] [--queries 1000]
//                              [--nlist 0] [--dir DIR] [--keep]
// Writes (once, rank 0) a cache of `rows` clustered float vectors
// (1000 centres drawn N(0, 1), noise N(0, 1): overlapping
// clusters, so IVF's recall depends on nprobe) into DIR/bench-cache.h5 unless it is there, then
// at the launcher's rank count, for Flat, IVF<nlist>,Flat (nlist 0 =
// 4*sqrt(rows) rounded to a power of two) and HNSW32: `fathom index`'s
// build_index (build seconds, shard bytes = the index's memory), and
// ShardedIndex search of `queries` queries, k = 10 (queries/s; recall@10
// against Flat, the exact answer) at nprobe 1, 4, 16, 64 for IVF. Prints a
// table and, last, one JSON line of figures.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "fathom/comm/communicator.h"
#include "fathom/core/log.h"
#include "fathom/index/build.h"
#include "fathom/index/sharded_index.h"
#include "fathom/store/cache_reader.h"
#include "fathom/store/cache_writer.h"

namespace {

namespace fs = std::filesystem;
using namespace fathom;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Args {
  std::int64_t rows = 1000000, dim = 128, queries = 1000, nlist = 0, k = 10;
  std::string dir;
  bool keep = false;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--rows") a.rows = std::stoll(value());
    else if (flag == "--dim") a.dim = std::stoll(value());
    else if (flag == "--queries") a.queries = std::stoll(value());
    else if (flag == "--nlist") a.nlist = std::stoll(value());
    else if (flag == "--dir") a.dir = value();
    else if (flag == "--keep") a.keep = true;
    else throw std::runtime_error("unknown flag " + flag);
  }
  return a;
}

// Row r (or query q, from another stream) near one of 1000 fixed centres.
class Generator {
 public:
  explicit Generator(std::int64_t dim) : dim_(dim), centres_(std::size_t(1000 * dim)) {
    std::mt19937_64 gen(42);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float& c : centres_) c = normal(gen);
  }
  void fill(std::uint64_t stream, std::int64_t first, std::int64_t n, float* out) const {
    for (std::int64_t i = 0; i < n; ++i) {
      std::mt19937_64 gen(stream * 0x9e3779b97f4a7c15ull + std::uint64_t(first + i));
      std::normal_distribution<float> normal(0.0f, 1.0f);
      const std::int64_t c = std::int64_t(gen() % 1000);
      for (std::int64_t d = 0; d < dim_; ++d)
        out[i * dim_ + d] = centres_[std::size_t(c * dim_ + d)] + normal(gen);
    }
  }

 private:
  std::int64_t dim_;
  std::vector<float> centres_;
};

void write_cache(const std::string& path, const Args& a, const Generator& g) {
  store::CacheSchema s;
  s.rows = a.rows;
  s.datasets = {{"features", a.dim, store::ElementType::f32}};
  s.attributes.set("kind", "bench");
  auto local = comm::make_communicator("local");
  store::CacheWriter w = store::CacheWriter::create(path, s, *local);
  const std::int64_t block = 65536;
  std::vector<float> buf(std::size_t(block * a.dim));
  for (std::int64_t r = 0; r < a.rows; r += block) {
    const std::int64_t n = std::min(block, a.rows - r);
    g.fill(1, r, n, buf.data());
    w.write_rows("features", r, n, buf.data());
  }
  w.finalize();
}

double recall(const index::Neighbors& got, const index::Neighbors& truth) { return index::recall_at_k(got, truth); }

std::string json_str(const std::string& s) { return "\"" + s + "\""; }

}  // namespace

int main(int argc, char** argv) {
  auto comm = comm::make_communicator("auto");
  log::init(comm->rank(), comm->size(), "warn");
  Args a;
  try {
    a = parse(argc, argv);
  } catch (const std::exception& e) {
    if (comm->is_root()) std::cerr << "index_bench: " << e.what() << "\n";
    return 2;
  }
  if (a.dir.empty()) a.dir = (fs::temp_directory_path() / "fathom-bench-index").string();
  if (a.nlist == 0) {
    a.nlist = 1;
    while (a.nlist * 2 <= std::int64_t(4 * std::sqrt(double(a.rows)))) a.nlist *= 2;
  }
  const Generator g(a.dim);
  const std::string cache = a.dir + "/bench-cache-" + std::to_string(a.rows) + "x" + std::to_string(a.dim) + ".h5";
  if (comm->is_root()) {
    fs::create_directories(a.dir);
    bool ok = false;
    try {
      ok = store::CacheReader::open(cache).is_complete();
    } catch (const std::exception&) {
    }
    if (!ok) {
      const auto t = Clock::now();
      write_cache(cache, a, g);
      std::cerr << "index_bench: wrote " << cache << " in " << seconds_since(t) << " s\n";
    }
  }
  comm->barrier();
  std::vector<float> queries(std::size_t(a.queries * a.dim));
  g.fill(2, 0, a.queries, queries.data());

  struct Row {
    std::string spec;
    std::int64_t nprobe;
    double build_s, qps, recall;
    std::int64_t bytes;
  };
  std::vector<Row> rows;
  index::Neighbors truth;
  const std::string ivf = "IVF" + std::to_string(a.nlist) + ",Flat";
  for (const std::string spec : {std::string("Flat"), ivf, std::string("HNSW32")}) {
    index::BuildOptions o;
    o.cache = cache;
    o.spec = spec;
    o.out = a.dir + "/bench-" + std::to_string(comm->size()) + "r-" + spec.substr(0, spec.find(',')) + ".faiss";
    o.overwrite = true;
    o.progress_period_s = 1e9;
    const auto t = Clock::now();
    const index::Manifest m = index::build_index(o, *comm);
    comm->barrier();
    const double build_s = seconds_since(t);
    std::int64_t bytes = 0;
    for (const auto& s : m.shards) bytes += s.bytes;
    const std::vector<std::int64_t> probes =
        m.nprobe > 0 ? std::vector<std::int64_t>{1, 4, 16, 64} : std::vector<std::int64_t>{0};
    for (std::int64_t p : probes) {
      const index::ShardedIndex idx = index::ShardedIndex::open(o.out, *comm, p);
      idx.search(queries.data(), std::min<std::int64_t>(a.queries, 16), a.k);  // warm-up: threads, caches
      comm->barrier();
      const auto ts = Clock::now();
      const index::Neighbors got = idx.search(queries.data(), a.queries, a.k);
      const double search_s = seconds_since(ts);
      if (spec == "Flat") truth = got;
      rows.push_back({spec, p, build_s, double(a.queries) / search_s, recall(got, truth), bytes});
    }
    if (!a.keep && comm->is_root()) {
      for (std::size_t s = 0; s < m.shards.size(); ++s) fs::remove(m.shard_path(o.out, s));
      fs::remove(o.out);
    }
    comm->barrier();
  }
  if (comm->is_root()) {
    std::printf("%lld x %lld vectors, %lld queries, k %lld, %d rank(s)\n", (long long)a.rows, (long long)a.dim,
                (long long)a.queries, (long long)a.k, comm->size());
    std::printf("%-16s %7s %10s %12s %10s %12s\n", "spec", "nprobe", "build s", "queries/s", "recall@10", "MiB");
    std::ostringstream json;
    json << "{\"rows\": " << a.rows << ", \"dim\": " << a.dim << ", \"queries\": " << a.queries
         << ", \"ranks\": " << comm->size() << ", \"results\": [";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      std::printf("%-16s %7s %10.2f %12.1f %10.4f %12.1f\n", r.spec.c_str(),
                  r.nprobe > 0 ? std::to_string(r.nprobe).c_str() : "-", r.build_s, r.qps, r.recall,
                  double(r.bytes) / (1 << 20));
      json << (i ? ", " : "") << "{\"spec\": " << json_str(r.spec) << ", \"nprobe\": " << r.nprobe
           << ", \"build_s\": " << r.build_s << ", \"queries_per_s\": " << r.qps << ", \"recall_at_10\": " << r.recall
           << ", \"bytes\": " << r.bytes << "}";
    }
    json << "]}";
    std::printf("%s\n", json.str().c_str());
  }
  return 0;
}
