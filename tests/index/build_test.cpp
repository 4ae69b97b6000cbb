// build_index + ShardedIndex on one process, over a cache written here:
// Flat search equals brute force on the cache's vectors; IVF at the default
// nprobe reaches recall@10 >= 0.95; validation refuses before writing
// anything (bad spec, missing/incomplete cache, unknown field, existing
// output); a shard that does not match its manifest is refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/index/build.h"
#include "fathom/index/sharded_index.h"
#include "fathom/index/vector_index.h"
#include "fathom/store/cache_reader.h"
#include "index/index_cache.h"
#include "index/index_fixtures.h"
#include "test_files.h"

namespace fathom::index {
namespace {

namespace fs = std::filesystem;
using fathom::testing::slurp;
using testing::CacheSpec;
using testing::TempDir;


std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

class Build : public ::testing::Test {
 protected:
  void SetUp() override { comm_ = comm::make_communicator("local"); }
  BuildOptions options(const std::string& spec, const std::string& metric = "l2") {
    BuildOptions o;
    o.cache = cache_;
    o.spec = spec;
    o.metric = metric;
    o.out = dir_.file("index.faiss");
    o.progress_period_s = 1e9;
    return o;
  }
  TempDir dir_{"build"};
  std::string cache_ = dir_.file("cache.h5");
  std::unique_ptr<comm::Communicator> comm_;
};

TEST_F(Build, FlatSearchEqualsBruteForceForEveryMetric) {
  const std::vector<float> rows = testing::write_test_cache(cache_, {.rows = 500, .dim = 8});
  const std::vector<float> queries = testing::random_vectors(20, 8, 99);
  for (const std::string metric : {"l2", "ip", "cosine"}) {
    SCOPED_TRACE(metric);
    BuildOptions o = options("Flat", metric);
    o.overwrite = true;
    o.memory_budget_bytes = 100 * 8 * sizeof(float);  // several row blocks
    const Manifest m = build_index(o, *comm_);
    EXPECT_EQ(m.rows, 500);
    EXPECT_EQ(m.dim, 8);
    EXPECT_EQ(m.train_rows, 0);
    EXPECT_EQ(m.nprobe, 0);
    EXPECT_EQ(m.normalized, metric == "cosine");
    ASSERT_EQ(m.shards.size(), 1u);
    EXPECT_EQ(m.shards[0].file, "index.faiss.shard-0-of-1");
    EXPECT_EQ(m.shards[0].bytes, std::int64_t(fs::file_size(dir_.file("index.faiss.shard-0-of-1"))));
    const ShardedIndex index = ShardedIndex::open(o.out, *comm_);
    const Neighbors got = index.search(queries.data(), 20, 10);
    testing::expect_matches_brute_force(got, testing::brute_force(rows, queries, 8, 10, metric_from_name(metric)), rows,
                                        queries, 8, metric_from_name(metric));
  }
}

TEST_F(Build, GradientsFieldIsIndexedFromItsHalfPrecisionValues) {
  testing::write_test_cache(cache_, {.rows = 200});
  std::vector<float> rows(200 * testing::kGradientWidth);
  store::CacheReader::open(cache_).read_rows("gradients", 0, 200, rows.data());
  BuildOptions o = options("Flat");
  o.field = "gradients";
  const Manifest m = build_index(o, *comm_);
  EXPECT_EQ(m.dim, testing::kGradientWidth);
  EXPECT_EQ(m.field, "gradients");
  const std::vector<float> queries = testing::random_vectors(5, testing::kGradientWidth, 3);
  const Neighbors got = ShardedIndex::open(o.out, *comm_).search(queries.data(), 5, 200);
  testing::expect_matches_brute_force(got, testing::brute_force(rows, queries, testing::kGradientWidth, 200, Metric::l2),
                                      rows, queries, testing::kGradientWidth, Metric::l2);
}

TEST_F(Build, IvfAtTheDefaultNprobeRecallsAtLeast95PercentOfFlat) {
  const std::vector<float> rows = testing::write_test_cache(cache_, {.rows = 4000, .dim = 16, .clustered = true});
  const std::vector<float> queries = testing::clustered_vectors(200, 16, 50, 77);
  BuildOptions o = options("IVF64,Flat");
  o.train_sample = 3000;
  const Manifest m = build_index(o, *comm_);
  EXPECT_EQ(m.nprobe, 16);
  EXPECT_EQ(m.train_rows, 3000);
  const Neighbors got = ShardedIndex::open(o.out, *comm_).search(queries.data(), 200, 10);
  VectorIndex flat("Flat", Metric::l2, 16);
  flat.add(rows.data(), 4000, 0);
  const double r = testing::recall(got, flat.search(queries.data(), 200, 10));
  EXPECT_GE(r, 0.95);
  RecordProperty("recall_at_10", std::to_string(r));
  // nprobe 1 at open time overrides the manifest's and loses recall.
  const double r1 = testing::recall(ShardedIndex::open(o.out, *comm_, 1).search(queries.data(), 200, 10),
                                    flat.search(queries.data(), 200, 10));
  EXPECT_LT(r1, r);
}

TEST_F(Build, ExistingOutputIsRefusedAndUntouchedWithoutOverwrite) {
  testing::write_test_cache(cache_, {.rows = 100});
  const BuildOptions o = options("Flat");
  { std::ofstream(o.out) << "keep me"; }
  const auto before = files_in(dir_.path());
  try {
    build_index(o, *comm_);
    ADD_FAILURE() << "an existing output was replaced";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--overwrite"), std::string::npos) << e.what();
  }
  EXPECT_EQ(slurp(o.out), "keep me");
  EXPECT_EQ(files_in(dir_.path()), before);
  BuildOptions again = o;
  again.overwrite = true;
  EXPECT_EQ(build_index(again, *comm_).rows, 100);
  EXPECT_EQ(Manifest::load(o.out).rows, 100);
}

TEST_F(Build, InvalidRequestsWriteNothing) {
  testing::write_test_cache(cache_, {.rows = 100});
  testing::write_test_cache(dir_.file("incomplete.h5"), {.rows = 200, .finalize = false});
  const auto before = files_in(dir_.path());
  struct Case {
    std::string name;
    std::function<void(BuildOptions&)> change;
    ErrorKind kind;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"bad spec", [](BuildOptions& o) { o.spec = "IVF16,Bogus"; }, ErrorKind::Usage, "accepted specs"},
      {"bad metric", [](BuildOptions& o) { o.metric = "cos"; }, ErrorKind::Usage, "l2"},
      {"bad field", [](BuildOptions& o) { o.field = "logits"; }, ErrorKind::Usage, "features or gradients"},
      {"missing cache", [](BuildOptions& o) { o.cache = "/nonexistent/c.h5"; }, ErrorKind::Input, "/nonexistent/c.h5"},
      {"incomplete cache", [&](BuildOptions& o) { o.cache = dir_.file("incomplete.h5"); }, ErrorKind::Input,
       "incomplete"},
      {"negative sample", [](BuildOptions& o) { o.train_sample = -1; }, ErrorKind::Usage, "--train-sample"},
      {"negative nprobe", [](BuildOptions& o) { o.nprobe = -2; }, ErrorKind::Usage, "--nprobe"},
      {"nprobe without IVF", [](BuildOptions& o) { o.nprobe = 4; }, ErrorKind::Usage, "IVF"},
      {"too few rows for IVF", [](BuildOptions& o) { o.spec = "IVF256,Flat"; }, ErrorKind::Usage, "FAISS"},
      {"missing out directory", [](BuildOptions& o) { o.out = "/nonexistent/dir/i.faiss"; }, ErrorKind::Input,
       "/nonexistent/dir"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    BuildOptions o = options("Flat");
    c.change(o);
    try {
      build_index(o, *comm_);
      ADD_FAILURE() << c.name << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(int(e.kind()), int(c.kind)) << e.what();
      EXPECT_NE(describe(e).find(c.says), std::string::npos) << describe(e);
      EXPECT_EQ(exit_code_for(e), 2);
    }
    EXPECT_EQ(files_in(dir_.path()), before);
  }
}

TEST_F(Build, SameSeedSameIndexOtherSeedOtherTrainingSample) {
  const std::vector<float> rows = testing::write_test_cache(cache_, {.rows = 1500, .dim = 8, .clustered = true});
  const std::vector<float> queries = testing::random_vectors(30, 8, 5);
  auto search = [&](std::uint64_t seed, const std::string& name) {
    BuildOptions o = options("IVF32,Flat");
    o.out = dir_.file(name);
    o.train_sample = 700;
    o.seed = seed;
    build_index(o, *comm_);
    return ShardedIndex::open(o.out, *comm_, 1).search(queries.data(), 30, 5);
  };
  const Neighbors a = search(7, "a.faiss"), b = search(7, "b.faiss"), c = search(8, "c.faiss");
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(a.distances, b.distances);
  EXPECT_NE(a.rows, c.rows);  // another sample, other centroids: nprobe 1 sees other lists
}

TEST_F(Build, ShardThatDisagreesWithItsManifestIsRefused) {
  testing::write_test_cache(cache_, {.rows = 100});
  const BuildOptions o = options("Flat");
  build_index(o, *comm_);
  Manifest m = Manifest::load(o.out);
  // A shard file holding other rows than the manifest says.
  testing::write_test_cache(dir_.file("small.h5"), {.rows = 60});
  BuildOptions small = options("Flat");
  small.cache = dir_.file("small.h5");
  small.out = dir_.file("small.faiss");
  build_index(small, *comm_);
  fs::copy_file(dir_.file("small.faiss.shard-0-of-1"), dir_.file("index.faiss.shard-0-of-1"),
                fs::copy_options::overwrite_existing);
  try {
    ShardedIndex::open(o.out, *comm_);
    ADD_FAILURE() << "a 60-row shard opened as 100 rows";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("shard-0-of-1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("60 rows"), std::string::npos) << e.what();
  }
  fs::remove(dir_.file("index.faiss.shard-0-of-1"));
  EXPECT_THROW(ShardedIndex::open(o.out, *comm_), InputError);
  EXPECT_THROW(ShardedIndex::open(dir_.file("none.faiss"), *comm_), InputError);
}

TEST_F(Build, SearchTakesKAboveTheRowsAndRefusesKBelowOne) {
  const std::vector<float> rows = testing::write_test_cache(cache_, {.rows = 30, .dim = 8});
  const BuildOptions o = options("HNSW8");
  build_index(o, *comm_);
  const ShardedIndex index = ShardedIndex::open(o.out, *comm_);
  const Neighbors got = index.search(rows.data(), 2, 40);
  for (std::int64_t j = 30; j < 40; ++j) EXPECT_EQ(got.rows[std::size_t(j)], -1);
  EXPECT_EQ(got.rows[0], 0);  // row 0 is its own nearest neighbour
  EXPECT_EQ(got.rows[40], 1);
  EXPECT_THROW(index.search(rows.data(), 2, 0), UsageError);
}

}  // namespace
}  // namespace fathom::index
