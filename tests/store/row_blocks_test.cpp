// RowBlocks: every row exactly once, in order, within the budget, aligned
// to chunks where possible; and shard_rows + RowBlocks across "ranks".
#include <gtest/gtest.h>

#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/store/cache_reader.h"
#include "fathom/store/cache_writer.h"
#include "fathom/store/half.h"
#include "store_fixtures.h"

namespace fathom::store {
namespace {

constexpr std::int64_t kRows = 103, kRpc = 10;

class StoreRowBlocks : public ::testing::Test {
 protected:
  void SetUp() override {
    auto comm = comm::make_communicator("local");
    CacheWriter w = CacheWriter::create(path, testing::example_schema(kRows, kRpc), *comm);
    testing::write_example_rows(w, 0, kRows);
    w.finalize();
  }
  testing::TempDir dir{"blocks"};
  std::string path = dir.file("cache.h5");
};

// Visits blocks, checking values; returns the rows seen in order.
std::vector<std::int64_t> visit(RowBlocks& blocks, std::size_t budget, std::int64_t width, bool half) {
  std::vector<std::int64_t> seen;
  while (blocks.next()) {
    EXPECT_GT(blocks.count(), 0);
    EXPECT_LE(std::size_t(blocks.count() * width) * sizeof(float), budget);
    EXPECT_EQ(blocks.width(), width);
    for (std::int64_t i = 0; i < blocks.count(); ++i) {
      const std::int64_t row = blocks.begin() + i;
      seen.push_back(row);
      for (std::int64_t c = 0; c < width; ++c) {
        const float want =
            half ? half_to_float(float_to_half(testing::gradient_of(row, c))) : testing::feature_of(row, c);
        EXPECT_EQ(blocks.data()[i * width + c], want);
      }
    }
  }
  EXPECT_FALSE(blocks.next());  // stays finished
  return seen;
}

std::vector<std::int64_t> iota(std::int64_t begin, std::int64_t end) {
  std::vector<std::int64_t> v;
  for (std::int64_t r = begin; r < end; ++r) v.push_back(r);
  return v;
}

TEST_F(StoreRowBlocks, SmallBudgetCoversAllRowsOnce) {
  CacheReader r = CacheReader::open(path);
  for (std::size_t rows_in_budget : {1, 3, 7, 10, 25, 1000}) {
    const std::size_t budget = rows_in_budget * testing::kFeatures * sizeof(float);
    RowBlocks b(r, "features", {0, kRows}, budget);
    EXPECT_EQ(visit(b, budget, testing::kFeatures, false), iota(0, kRows)) << rows_in_budget;
  }
  // Budget of 25 rows: two whole chunks per block.
  RowBlocks b(r, "features", {0, kRows}, 25 * testing::kFeatures * sizeof(float));
  EXPECT_EQ(b.max_block_rows(), 20);
}

TEST_F(StoreRowBlocks, UnalignedRangeRealignsToChunks) {
  CacheReader r = CacheReader::open(path);
  const std::size_t budget = 20 * testing::kGradients * sizeof(float);
  RowBlocks b(r, "gradients", {13, 70}, budget);
  std::vector<std::int64_t> begins;
  std::vector<std::int64_t> seen;
  while (b.next()) {
    begins.push_back(b.begin());
    for (std::int64_t i = 0; i < b.count(); ++i) seen.push_back(b.begin() + i);
  }
  EXPECT_EQ(seen, iota(13, 83));
  EXPECT_EQ(begins, (std::vector<std::int64_t>{13, 30, 50, 70}));
  RowBlocks again(r, "gradients", {13, 70}, budget);
  EXPECT_EQ(visit(again, budget, testing::kGradients, true), iota(13, 83));
}

TEST_F(StoreRowBlocks, ShardsAcrossRanksCoverEverything) {
  CacheReader r = CacheReader::open(path);
  std::vector<std::int64_t> all;
  for (int rank = 0; rank < 3; ++rank) {
    RowBlocks b(r, "features", shard_rows(r.rows(), rank, 3), 4 * testing::kFeatures * sizeof(float));
    for (auto row : visit(b, 4 * testing::kFeatures * sizeof(float), testing::kFeatures, false)) all.push_back(row);
  }
  EXPECT_EQ(all, iota(0, kRows));
}

TEST_F(StoreRowBlocks, EmptyRangeAndBadArguments) {
  CacheReader r = CacheReader::open(path);
  RowBlocks empty(r, "losses", {50, 0}, 1024);
  EXPECT_FALSE(empty.next());
  EXPECT_THROW(RowBlocks(r, "features", {0, kRows}, 8), UsageError);  // < one row
  EXPECT_THROW(RowBlocks(r, "labels", {0, kRows}, 1024), UsageError);  // not float
  EXPECT_THROW(RowBlocks(r, "features", {100, 10}, 1024), UsageError);
}

}  // namespace
}  // namespace fathom::store
