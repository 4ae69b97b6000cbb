// build_index + ShardedIndex under a real mpirun (2 and 3 ranks): the
// distributed answer equals a one-rank reference computed in this program
// (rank 0 alone, local communicator) exactly, and Flat equals brute force;
// an index built at np 2 (index_mpi_np2, a ctest fixture) is opened and
// searched at np 3; errors raised on one rank fail every rank with the same
// kind. EXPECT only between collectives: a rank returning early would hang
// the rest.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <filesystem>
#include <string>
#include <vector>

#include "mpi_gtest.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/core/log.h"
#include "fathom/index/build.h"
#include "fathom/index/sharded_index.h"
#include "fathom/index/vector_index.h"
#include "fathom/store/cache_reader.h"
#include "index/index_cache.h"
#include "index/index_fixtures.h"

namespace fathom::index {
namespace {

namespace fs = std::filesystem;

comm::Communicator* g_comm = nullptr;

constexpr std::int64_t kRows = 1001, kDim = 16, kQueries = 40, kK = 10;  // 1001: uneven shards at 2 and 3 ranks

// A directory every rank agrees on (rank 0's pid), removed by rank 0.
class SharedDir {
 public:
  explicit SharedDir(const std::string& name) {
    std::string p;
    if (g_comm->rank() == 0) {
      p = (fs::temp_directory_path() / ("fathom_index_mpi_" + name + "_" + std::to_string(::getpid()))).string();
      fs::remove_all(p);
      fs::create_directories(p);
    }
    g_comm->broadcast(p, 0);
    path_ = p;
  }
  ~SharedDir() {
    g_comm->barrier();
    std::error_code ec;
    if (g_comm->rank() == 0) fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Rank 0 writes the cache; every rank gets its features.
std::vector<float> shared_cache(const std::string& path) {
  std::vector<float> rows;
  if (g_comm->rank() == 0) rows = testing::write_test_cache(path, {.rows = kRows, .dim = kDim, .clustered = true});
  g_comm->broadcast(rows, 0);
  return rows;
}

BuildOptions options(const std::string& cache, const std::string& out, const std::string& spec,
                     const std::string& metric) {
  BuildOptions o;
  o.cache = cache;
  o.out = out;
  o.spec = spec;
  o.metric = metric;
  o.train_sample = 600;
  o.seed = 3;
  o.memory_budget_bytes = 128 * kDim * sizeof(float);
  o.progress_period_s = 1e9;
  o.threads = 1;
  return o;
}

// Every rank holds the same lists as rank 0.
void expect_same_on_every_rank(const Neighbors& got) {
  Neighbors root = got;
  g_comm->broadcast(root.rows, 0);
  g_comm->broadcast(root.distances, 0);
  EXPECT_EQ(got.rows, root.rows) << "rank " << g_comm->rank();
  EXPECT_EQ(got.distances, root.distances) << "rank " << g_comm->rank();
}

// On rank 0: `got` equals `want` exactly (rows and distances).
void expect_identical(const Neighbors& got, const Neighbors& want) {
  ASSERT_EQ(got.rows.size(), want.rows.size());
  for (std::size_t i = 0; i < got.rows.size(); ++i) {
    EXPECT_EQ(got.rows[i], want.rows[i]) << "entry " << i;
    EXPECT_EQ(got.distances[i], want.distances[i]) << "entry " << i;
  }
}

TEST(IndexMpi, SearchAtThisRankCountEqualsOneRankExactly) {
  SharedDir dir("np" + std::to_string(g_comm->size()));
  const std::string cache = dir.file("cache.h5");
  const std::vector<float> rows = shared_cache(cache);
  const std::vector<float> queries = testing::clustered_vectors(kQueries, kDim, 50, 1234);
  struct Case {
    std::string spec, metric;
  };
  for (const Case& c : std::vector<Case>{{"Flat", "l2"}, {"Flat", "cosine"}, {"IVF32,Flat", "l2"}, {"IVF32,Flat", "ip"}}) {
    SCOPED_TRACE(c.spec + " " + c.metric);
    const Metric metric = metric_from_name(c.metric);
    const std::string name = c.spec.substr(0, c.spec.find(',')) + "-" + c.metric;
    const BuildOptions o = options(cache, dir.file(name + ".faiss"), c.spec, c.metric);
    const Manifest m = build_index(o, *g_comm);
    EXPECT_EQ(int(m.shards.size()), g_comm->size());
    const Neighbors got = ShardedIndex::open(o.out, *g_comm, c.spec == "Flat" ? 0 : 2).search(queries.data(), kQueries, kK);
    expect_same_on_every_rank(got);
    if (g_comm->rank() == 0) {
      // The one-rank reference: the same build on rank 0 alone.
      auto local = comm::make_communicator("local");
      BuildOptions one = o;
      one.out = dir.file(name + "-np1.faiss");
      const Manifest m1 = build_index(one, *local);
      EXPECT_EQ(m1.train_rows, m.train_rows);
      const Neighbors want = ShardedIndex::open(one.out, *local, c.spec == "Flat" ? 0 : 2).search(queries.data(), kQueries, kK);
      expect_identical(got, want);
      if (c.spec == "Flat")
        testing::expect_matches_brute_force(got, testing::brute_force(rows, queries, kDim, kK, metric), rows, queries,
                                            kDim, metric);
    }
    g_comm->barrier();
  }
}

TEST(IndexMpi, ErrorsOnOneRankFailEveryRankWithTheSameKind) {
  SharedDir dir("errors" + std::to_string(g_comm->size()));
  const std::string cache = dir.file("cache.h5");
  shared_cache(cache);
  // Rejected by FAISS on every rank.
  EXPECT_THROW(build_index(options(cache, dir.file("bad.faiss"), "IVF16,Bogus", "l2"), *g_comm), UsageError);
  // Found on rank 0 only (the output exists): every rank throws a usage error.
  if (g_comm->rank() == 0) { std::ofstream(dir.file("exists.faiss")) << "keep"; }
  g_comm->barrier();
  try {
    build_index(options(cache, dir.file("exists.faiss"), "Flat", "l2"), *g_comm);
    ADD_FAILURE() << "rank " << g_comm->rank() << ": an existing output was replaced";
  } catch (const Error& e) {
    EXPECT_EQ(int(e.kind()), int(ErrorKind::Usage)) << e.what();
  }
  // Training fails on rank 0 (too few rows for 2048 lists): every rank fails, nothing written.
  try {
    build_index(options(cache, dir.file("ivf.faiss"), "IVF2048,Flat", "l2"), *g_comm);
    ADD_FAILURE() << "rank " << g_comm->rank() << ": trained 2048 lists on 600 rows";
  } catch (const Error& e) {
    EXPECT_EQ(exit_code_for(e), 2) << e.what();
  }
  g_comm->barrier();
  EXPECT_FALSE(fs::exists(dir.file("ivf.faiss")));
  EXPECT_FALSE(fs::exists(dir.file("ivf.faiss.shard-0-of-" + std::to_string(g_comm->size()))));
}

// np 2 writes an index into FATHOM_INDEX_MPI_SHARED (a ctest fixture); np 3
// opens it (two shard files on three ranks), searches, and rebuilds a copy
// at np 3 with overwrite (the np 2 shard files are removed).
TEST(IndexMpi, BuiltAtTwoRanksSearchedAtThree) {
  const char* shared = std::getenv("FATHOM_INDEX_MPI_SHARED");
  if (!shared) GTEST_SKIP() << "FATHOM_INDEX_MPI_SHARED is not set (ctest sets it)";
  const std::string root = shared;
  const std::vector<float> queries = testing::clustered_vectors(kQueries, kDim, 50, 4321);
  if (g_comm->size() == 2) {
    if (g_comm->rank() == 0) {
      fs::remove_all(root);
      fs::create_directories(root);
    }
    g_comm->barrier();
    shared_cache(root + "/cache.h5");
    build_index(options(root + "/cache.h5", root + "/flat.faiss", "Flat", "l2"), *g_comm);
    build_index(options(root + "/cache.h5", root + "/ivf.faiss", "IVF32,Flat", "cosine"), *g_comm);
    return;
  }
  ASSERT_TRUE(fs::exists(root + "/flat.faiss")) << "run index_mpi_np2 first (ctest fixture index_np2_built)";
  std::vector<float> rows(std::size_t(kRows * kDim));
  store::CacheReader::open(root + "/cache.h5").read_rows("features", 0, kRows, rows.data());
  for (const std::string name : {"flat", "ivf"}) {
    SCOPED_TRACE(name);
    const ShardedIndex index = ShardedIndex::open(root + "/" + name + ".faiss", *g_comm);
    EXPECT_EQ(index.manifest().shards.size(), 2u);
    const Neighbors got = index.search(queries.data(), kQueries, kK);
    expect_same_on_every_rank(got);
    if (g_comm->rank() == 0) {
      auto local = comm::make_communicator("local");
      expect_identical(got, ShardedIndex::open(root + "/" + name + ".faiss", *local).search(queries.data(), kQueries, kK));
      if (name == "flat")
        testing::expect_matches_brute_force(got, testing::brute_force(rows, queries, kDim, kK, Metric::l2), rows,
                                            queries, kDim, Metric::l2);
    }
    g_comm->barrier();
  }
  // Overwrite a copy of the np 2 index at this rank count.
  SharedDir copy("overwrite");
  if (g_comm->rank() == 0)
    for (const std::string f : {"flat.faiss", "flat.faiss.shard-0-of-2", "flat.faiss.shard-1-of-2"})
      fs::copy_file(root + "/" + f, copy.file(f));
  g_comm->barrier();
  BuildOptions o = options(root + "/cache.h5", copy.file("flat.faiss"), "Flat", "l2");
  o.overwrite = true;
  const Manifest m = build_index(o, *g_comm);
  EXPECT_EQ(int(m.shards.size()), g_comm->size());
  g_comm->barrier();
  if (g_comm->rank() == 0) {
    EXPECT_FALSE(fs::exists(copy.file("flat.faiss.shard-0-of-2")));
    EXPECT_FALSE(fs::exists(copy.file("flat.faiss.shard-1-of-2")));
    for (int s = 0; s < g_comm->size(); ++s)
      EXPECT_TRUE(fs::exists(copy.file("flat.faiss.shard-" + std::to_string(s) + "-of-" + std::to_string(g_comm->size()))));
  }
}

}  // namespace
}  // namespace fathom::index

int main(int argc, char** argv) {
  auto comm = fathom::testing::start_mpi_gtest(&argc, argv);
  fathom::index::g_comm = comm.get();
  return fathom::testing::any_rank_failed(*comm) ? 1 : 0;
}
