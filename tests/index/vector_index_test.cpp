// VectorIndex against brute force: Flat (l2, ip, cosine) returns exactly the
// brute-force neighbours; IVF at the default nprobe and HNSW reach high
// recall against Flat; PQ builds and searches; bad specs, too few training
// rows and misordered adds are refused; serialised and file round trips
// search identically.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/index/build.h"
#include "fathom/index/vector_index.h"
#include "index/index_fixtures.h"

namespace fathom::index {
namespace {

using testing::brute_force;
using testing::clustered_vectors;
using testing::expect_matches_brute_force;
using testing::random_vectors;
using testing::recall;

constexpr std::int64_t kDim = 16;

class FlatMatchesBruteForce : public ::testing::TestWithParam<Metric> {};

TEST_P(FlatMatchesBruteForce, IdsAndDistances) {
  const Metric metric = GetParam();
  const std::int64_t n = 700, nq = 25, k = 10, first_row = 1000;
  const std::vector<float> rows = random_vectors(n, kDim, 1), queries = random_vectors(nq, kDim, 2);
  VectorIndex index("Flat", metric, kDim);
  EXPECT_FALSE(index.needs_training());
  // Two adds: ids continue from the first.
  index.add(rows.data(), 300, first_row);
  index.add(rows.data() + 300 * kDim, n - 300, first_row + 300);
  ASSERT_EQ(index.size(), n);
  Neighbors got = index.search(queries.data(), nq, k);
  for (auto& r : got.rows) r -= first_row;
  expect_matches_brute_force(got, brute_force(rows, queries, kDim, k, metric), rows, queries, kDim, metric);
}

TEST_P(FlatMatchesBruteForce, MoreNeighboursThanRowsLeavesMissingEntries) {
  const Metric metric = GetParam();
  const std::vector<float> rows = random_vectors(6, kDim, 3), queries = random_vectors(4, kDim, 4);
  VectorIndex index("Flat", metric, kDim);
  index.add(rows.data(), 6, 0);
  const Neighbors got = index.search(queries.data(), 4, 9);
  expect_matches_brute_force(got, brute_force(rows, queries, kDim, 9, metric), rows, queries, kDim, metric);
  const Neighbors missing(1, 1, metric);
  for (std::int64_t q = 0; q < 4; ++q)
    for (std::int64_t j = 6; j < 9; ++j) EXPECT_EQ(got.distances[std::size_t(q * 9 + j)], missing.distances[0]);
}

INSTANTIATE_TEST_SUITE_P(Metrics, FlatMatchesBruteForce, ::testing::Values(Metric::l2, Metric::ip, Metric::cosine),
                         [](const auto& info) { return std::string(metric_name(info.param)); });

TEST(VectorIndex, CosineIsInnerProductOfNormalisedVectorsAndLeavesInputsAlone) {
  std::vector<float> rows = random_vectors(50, kDim, 5), queries = random_vectors(3, kDim, 6);
  const std::vector<float> rows_before = rows, queries_before = queries;
  VectorIndex index("Flat", Metric::cosine, kDim);
  index.add(rows.data(), 50, 0);
  const Neighbors got = index.search(queries.data(), 3, 50);
  EXPECT_EQ(rows, rows_before);
  EXPECT_EQ(queries, queries_before);
  for (float d : got.distances) {
    EXPECT_LE(d, 1.0f + 1e-5f);
    EXPECT_GE(d, -1.0f - 1e-5f);
  }
}

// Recall@10 of an approximate index against Flat on clustered data.
double recall_against_flat(VectorIndex& approximate, Metric metric, std::int64_t n, std::int64_t dim) {
  const std::vector<float> rows = clustered_vectors(n, dim, 50, 21), queries = clustered_vectors(200, dim, 50, 22);
  VectorIndex flat("Flat", metric, dim);
  flat.add(rows.data(), n, 0);
  if (approximate.needs_training()) approximate.train(rows.data(), n);
  approximate.add(rows.data(), n, 0);
  return recall(approximate.search(queries.data(), 200, 10), flat.search(queries.data(), 200, 10));
}

TEST(VectorIndex, IvfAtTheDefaultNprobeRecallsAtLeast95Percent) {
  VectorIndex ivf("IVF64,Flat", Metric::l2, 32);
  EXPECT_TRUE(ivf.needs_training());
  EXPECT_EQ(ivf.nlist(), 64);
  ivf.set_nprobe(default_nprobe(ivf.nlist()));
  EXPECT_EQ(ivf.nprobe(), 16);
  const double r = recall_against_flat(ivf, Metric::l2, 5000, 32);
  EXPECT_GE(r, 0.95);
  RecordProperty("recall_at_10", std::to_string(r));
}

// Approximate indexes: far better than chance (10 of 3000 rows), and HNSW
// (which stores the vectors) reports each returned row's exact distance.
// PQ with 4-bit codes (16 centroids per sub-quantiser) keeps training quick.
TEST(VectorIndex, HnswAndPqBuildAndSearch) {
  VectorIndex hnsw("HNSW32", Metric::l2, 32);
  EXPECT_FALSE(hnsw.needs_training());
  EXPECT_EQ(hnsw.nlist(), 0);
  hnsw.set_nprobe(8);  // no effect outside IVF
  EXPECT_EQ(hnsw.nprobe(), 0);
  EXPECT_GE(recall_against_flat(hnsw, Metric::l2, 3000, 32), 0.5);
  const std::vector<float> rows = clustered_vectors(3000, 32, 50, 21), queries = clustered_vectors(200, 32, 50, 22);
  const Neighbors got = hnsw.search(queries.data(), 200, 10);
  for (std::int64_t q = 0; q < 200; ++q)
    for (std::int64_t j = 0; j < 10; ++j) {
      const std::size_t at = std::size_t(q * 10 + j);
      ASSERT_GE(got.rows[at], 0);
      EXPECT_NEAR(got.distances[at],
                  testing::reference_distance(&queries[std::size_t(q * 32)], &rows[std::size_t(got.rows[at] * 32)], 32,
                                              Metric::l2),
                  1e-3 * std::max(1.0f, got.distances[at]));
    }
  // Lossy codes: on this data (isotropic noise around 50 centres) PQ finds
  // the query's cluster but not its exact neighbours in it. Measured by true
  // distances: the rows PQ returns are, on average, nearly as near as Flat's
  // (>= 95% of the gain Flat's top 10 has over the mean row).
  for (const std::string spec : {"PQ8x4", "IVF16,PQ8x4"}) {
    for (Metric metric : {Metric::l2, Metric::ip}) {
      SCOPED_TRACE(spec + " " + metric_name(metric));
      VectorIndex pq(spec, metric, 32);
      EXPECT_TRUE(pq.needs_training());
      pq.set_nprobe(16);
      pq.train(rows.data(), 3000);
      pq.add(rows.data(), 3000, 0);
      VectorIndex flat("Flat", metric, 32);
      flat.add(rows.data(), 3000, 0);
      const Neighbors approximate = pq.search(queries.data(), 200, 10), exact = flat.search(queries.data(), 200, 10);
      double pq_mean = 0, flat_mean = 0, all_mean = 0;
      for (std::int64_t q = 0; q < 200; ++q) {
        const float* query = &queries[std::size_t(q * 32)];
        for (std::int64_t j = 0; j < 10; ++j) {
          const std::int64_t a = approximate.rows[std::size_t(q * 10 + j)], e = exact.rows[std::size_t(q * 10 + j)];
          ASSERT_GE(a, 0);
          ASSERT_LT(a, 3000);
          pq_mean += testing::reference_distance(query, &rows[std::size_t(a * 32)], 32, metric) / 2000.0;
          flat_mean += testing::reference_distance(query, &rows[std::size_t(e * 32)], 32, metric) / 2000.0;
        }
        for (std::int64_t r = 0; r < 3000; ++r)
          all_mean += testing::reference_distance(query, &rows[std::size_t(r * 32)], 32, metric) / 600000.0;
      }
      const double gain = (pq_mean - all_mean) / (flat_mean - all_mean);
      EXPECT_GE(gain, 0.95) << "pq " << pq_mean << ", flat " << flat_mean << ", all rows " << all_mean;
    }
  }
}

TEST(VectorIndex, BadSpecIsAUsageErrorWithFaissMessageAndAcceptedForms) {
  for (const std::string spec : {"IVF16,Bogus", "NoSuchIndex", "PQ5"}) {
    try {
      VectorIndex index(spec, Metric::l2, kDim);
      ADD_FAILURE() << spec << " was accepted";
    } catch (const UsageError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("'" + spec + "'"), std::string::npos) << what;
      EXPECT_NE(what.find("rejected by FAISS: "), std::string::npos) << what;
      EXPECT_NE(what.find("accepted specs: "), std::string::npos) << what;
      EXPECT_NE(what.find("IVF<nlist>,PQ<m>"), std::string::npos) << what;
      // FAISS's own message follows "rejected by FAISS: " and is not empty.
      const auto at = what.find("rejected by FAISS: ") + std::string("rejected by FAISS: ").size();
      EXPECT_NE(what.substr(at, what.find("; accepted") - at), "") << what;
    }
  }
  EXPECT_THROW(VectorIndex("Flat", Metric::l2, 0), UsageError);
}

TEST(VectorIndex, TooFewTrainingRowsAndMisuseAreUsageErrors) {
  const std::vector<float> rows = random_vectors(10, kDim, 8);
  VectorIndex ivf("IVF64,Flat", Metric::l2, kDim);
  EXPECT_THROW(ivf.add(rows.data(), 10, 0), UsageError);  // untrained
  try {
    ivf.train(rows.data(), 10);
    ADD_FAILURE() << "IVF64 trained on 10 rows";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("FAISS"), std::string::npos) << e.what();
  }
  VectorIndex flat("Flat", Metric::l2, kDim);
  flat.add(rows.data(), 5, 100);
  EXPECT_THROW(flat.add(rows.data() + 5 * kDim, 5, 200), UsageError);  // not contiguous
  EXPECT_THROW(flat.search(rows.data(), 1, 0), UsageError);
  EXPECT_THROW(flat.set_nprobe(0), UsageError);
}

class TempFile {
 public:
  explicit TempFile(const std::string& name)
      : path_((std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()))).string()) {}
  ~TempFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(VectorIndex, BytesAndFileRoundTripsSearchIdentically) {
  const std::vector<float> rows = clustered_vectors(2000, kDim, 20, 9), queries = random_vectors(30, kDim, 10);
  for (const std::string spec : {"Flat", "IVF16,Flat", "HNSW16", "IVF8,PQ4x4"}) {
    for (Metric metric : {Metric::l2, Metric::cosine}) {
      SCOPED_TRACE(spec + " " + metric_name(metric));
      VectorIndex index(spec, metric, kDim);
      if (index.needs_training()) index.train(rows.data(), 2000);
      index.add(rows.data(), 2000, 40);
      index.set_nprobe(4);
      const Neighbors want = index.search(queries.data(), 30, 7);

      VectorIndex from_bytes = VectorIndex::from_bytes(index.to_bytes(), metric, 40);
      from_bytes.set_nprobe(4);
      const Neighbors a = from_bytes.search(queries.data(), 30, 7);
      EXPECT_EQ(a.rows, want.rows);
      EXPECT_EQ(a.distances, want.distances);

      TempFile file("fathom_index_roundtrip");
      index.write(file.path());
      VectorIndex read = VectorIndex::read(file.path(), metric, 40);
      EXPECT_EQ(read.size(), 2000);
      EXPECT_EQ(read.dim(), kDim);
      read.set_nprobe(4);
      const Neighbors b = read.search(queries.data(), 30, 7);
      EXPECT_EQ(b.rows, want.rows);
      EXPECT_EQ(b.distances, want.distances);
    }
  }
}

TEST(VectorIndex, ReadRefusesMissingFilesGarbageAndAnotherMetric) {
  EXPECT_THROW(VectorIndex::read("/nonexistent/x.faiss", Metric::l2, 0), InputError);
  TempFile garbage("fathom_index_garbage");
  std::ofstream(garbage.path()) << "not an index";
  try {
    VectorIndex::read(garbage.path(), Metric::l2, 0);
    ADD_FAILURE() << "garbage was read";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(garbage.path()), std::string::npos) << e.what();
  }
  VectorIndex l2("Flat", Metric::l2, kDim);
  EXPECT_THROW(VectorIndex::from_bytes(l2.to_bytes(), Metric::ip, 0), InputError);
}

TEST(VectorIndex, MergeAcrossOneRankIsTheLocalMerge) {
  auto comm = comm::make_communicator("local");
  const std::vector<float> rows = random_vectors(100, kDim, 11), queries = random_vectors(5, kDim, 12);
  VectorIndex index("Flat", Metric::ip, kDim);
  index.add(rows.data(), 100, 0);
  const Neighbors local = index.search(queries.data(), 5, 8);
  const Neighbors merged = merge_across_ranks(local, 4, Metric::ip, *comm);
  const Neighbors want = merge_top_k({local}, 4, Metric::ip);
  EXPECT_EQ(merged.rows, want.rows);
  EXPECT_EQ(merged.distances, want.distances);
}

}  // namespace
}  // namespace fathom::index
