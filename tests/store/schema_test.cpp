// Layout arithmetic, schema validation and typed attribute getters.
#include <gtest/gtest.h>

#include <set>

#include "fathom/core/error.h"
#include "fathom/store/schema.h"
#include "store_fixtures.h"

namespace fathom::store {
namespace {

TEST(StoreSchema, ChunkRows) {
  EXPECT_EQ(num_chunks(100, 10), 10);
  EXPECT_EQ(num_chunks(101, 10), 11);
  EXPECT_EQ(num_chunks(1, 10), 1);
  EXPECT_EQ(chunk_rows(10, 101, 10), (RowRange{100, 1}));
  EXPECT_EQ(chunk_rows(3, 101, 10), (RowRange{30, 10}));
}

TEST(StoreSchema, ChunksOfRankAreContiguousBalancedAndDisjoint) {
  for (std::int64_t chunks : {0, 1, 2, 7, 28, 100})
    for (int size : {1, 2, 3, 5, 8}) {
      std::set<std::int64_t> seen;
      std::size_t smallest = SIZE_MAX, largest = 0;
      for (int r = 0; r < size; ++r) {
        const auto mine = chunks_of_rank(chunks, r, size);
        for (std::size_t i = 1; i < mine.size(); ++i) EXPECT_EQ(mine[i], mine[i - 1] + 1);
        for (auto c : mine) EXPECT_TRUE(seen.insert(c).second);
        smallest = std::min(smallest, mine.size());
        largest = std::max(largest, mine.size());
      }
      EXPECT_EQ(std::int64_t(seen.size()), chunks);
      EXPECT_LE(largest - smallest, 1u);
    }
  EXPECT_THROW(chunks_of_rank(4, 2, 2), UsageError);
}

TEST(StoreSchema, ShardRowsCoverEverything) {
  std::int64_t next = 0;
  for (int r = 0; r < 3; ++r) {
    const RowRange s = shard_rows(10, r, 3);
    EXPECT_EQ(s.begin, next);
    next = s.end();
  }
  EXPECT_EQ(next, 10);
}

TEST(StoreSchema, AutoRowsPerChunkTargetsMebibytes) {
  CacheSchema s;
  s.rows = 1000000;
  s.datasets = {{"g", 4096, ElementType::f32}, {"l", 0, ElementType::i64}};
  const std::int64_t rpc = auto_rows_per_chunk(s);
  EXPECT_EQ(rpc, 128);  // 128 rows x 16 KiB = 2 MiB
  s.rows = 50;
  EXPECT_EQ(auto_rows_per_chunk(s), 50);
  s.datasets = {{"huge", 10000000, ElementType::f32}};
  s.rows = 10;
  EXPECT_EQ(auto_rows_per_chunk(s), 1);
  EXPECT_EQ(resolved(s).rows_per_chunk, 1);
}

TEST(StoreSchema, ChunkPolicyWholeMultiplesAndMinimumChunks) {
  // A gradient cache's policy: 1 MiB, whole batches of 16, >= 64 chunks.
  ChunkPolicy cache;
  cache.target_bytes = std::int64_t(1) << 20;
  cache.row_multiple = 16;
  cache.min_chunks = 64;
  // 2000 rows of 616 bytes: 1 MiB would be 1702 rows, but 64 chunks need
  // <= 31.25 rows each, rounded up to whole batches: 32 (63 chunks).
  EXPECT_EQ(rows_per_chunk_for(2000, 616, cache), 32);
  // 10^6 rows of 16 KiB: 64 rows make 1 MiB, already 4 whole batches.
  EXPECT_EQ(rows_per_chunk_for(1000000, 16384, cache), 64);
  // Rows wider than the target: one batch per chunk, never less.
  EXPECT_EQ(rows_per_chunk_for(1000, std::int64_t(4) << 20, cache), 16);
  // Fewer rows than a batch: one chunk of every row.
  EXPECT_EQ(rows_per_chunk_for(10, 616, cache), 10);
  // 100 rows: 64 chunks would be < 2 rows; one batch (16) is the floor.
  EXPECT_EQ(rows_per_chunk_for(100, 616, cache), 16);
  // The default policy: 2 MiB, any row count, no chunk floor.
  EXPECT_EQ(rows_per_chunk_for(1000000, 16384, ChunkPolicy{}), 128);
  EXPECT_EQ(rows_per_chunk_for(1000000, 3, ChunkPolicy{}), 699050);
  // auto_rows_per_chunk uses the schema's widest row and its policy.
  CacheSchema s;
  s.rows = 2000;
  s.datasets = {{"ids", 12, ElementType::str}, {"g", 154, ElementType::f32}, {"h", 64, ElementType::f16}};
  s.chunk_policy = cache;
  EXPECT_EQ(auto_rows_per_chunk(s), 32);
  EXPECT_EQ(resolved(s).rows_per_chunk, 32);
  s.rows_per_chunk = 7;  // an explicit size wins
  EXPECT_EQ(resolved(s).rows_per_chunk, 7);
}

TEST(StoreSchema, ResolvedRejectsBadSchemas) {
  CacheSchema good = testing::example_schema(10, 4);
  EXPECT_NO_THROW(resolved(good));
  auto bad = [&](auto edit) {
    CacheSchema s = good;
    edit(s);
    EXPECT_THROW(resolved(s), UsageError);
  };
  bad([](CacheSchema& s) { s.rows = 0; });
  bad([](CacheSchema& s) { s.datasets.clear(); });
  bad([](CacheSchema& s) { s.datasets.push_back({"labels", 0, ElementType::i64}); });
  bad([](CacheSchema& s) { s.datasets.push_back({"a/b", 0, ElementType::i64}); });
  bad([](CacheSchema& s) { s.datasets.push_back({"complete", 0, ElementType::i64}); });
  bad([](CacheSchema& s) { s.datasets.push_back({"s", 0, ElementType::str}); });
  bad([](CacheSchema& s) { s.attributes.set("format_version", 2); });
  bad([](CacheSchema& s) { s.rows_per_chunk = -1; });
  bad([](CacheSchema& s) { s.chunk_policy.row_multiple = 0; });
  bad([](CacheSchema& s) { s.chunk_policy.min_chunks = 0; });
  bad([](CacheSchema& s) { s.chunk_policy.target_bytes = 0; });
  CacheSchema big = good;
  big.rows_per_chunk = 1000;
  EXPECT_EQ(resolved(big).rows_per_chunk, 10);  // clamped to rows
}

TEST(StoreSchema, AttributeGetters) {
  Attributes a("cache.h5");
  a.set("n", 5);
  a.set("big", std::int64_t(1) << 40);
  a.set("x", 0.25);
  a.set("s", "text");
  a.set("names", std::vector<std::string>{"a", "b"});
  a.set("dims", std::vector<std::int64_t>{1, 2});
  EXPECT_EQ(a.get_int("n"), 5);
  EXPECT_EQ(a.get_int("big"), std::int64_t(1) << 40);
  EXPECT_EQ(a.get_double("x"), 0.25);
  EXPECT_EQ(a.get_double("n"), 5.0);  // ints widen
  EXPECT_EQ(a.get_string("s"), "text");
  EXPECT_EQ(a.get_strings("names"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(a.get_ints("dims"), (std::vector<std::int64_t>{1, 2}));
  try {
    a.get_int("s");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cache.h5"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("'s'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("string"), std::string::npos);
  }
  EXPECT_THROW(a.get_string("missing"), InputError);
  EXPECT_EQ(attr_to_text(AttrValue(0.1)), "0.1");
  EXPECT_EQ(attr_to_text(AttrValue(std::vector<std::int64_t>{3, 4})), "[3, 4]");
}

}  // namespace
}  // namespace fathom::store
