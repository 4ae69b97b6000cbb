// shard_range arithmetic, and read_shard against a full read: the shards of
// every rank, concatenated in rank order, must be exactly the whole corpus.
#include "fathom/data/shard.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <string>
#include <vector>

#include "fathom/core/error.h"
#include "fathom/data/corpus.h"
#include "data/temp_dir_fixture.h"

using fathom::data::CorpusOptions;
using fathom::data::Example;
using fathom::data::Range;
using fathom::data::shard_range;

namespace {

TEST(ShardRange, BalancedContiguousCover) {
  for (std::int64_t n = 0; n <= 100; ++n) {
    for (int size = 1; size <= 9; ++size) {
      std::vector<int> owner(static_cast<std::size_t>(n), -1);
      std::int64_t expect_begin = 0;
      for (int rank = 0; rank < size; ++rank) {
        Range r = shard_range(n, rank, size);
        ASSERT_EQ(r.begin, expect_begin) << n << " " << rank << "/" << size;  // contiguous
        ASSERT_GE(r.size(), 0);
        ASSERT_EQ(r.size(), n / size + (rank < n % size ? 1 : 0));  // first n%size get +1
        for (std::int64_t i = r.begin; i < r.end; ++i) {
          ASSERT_EQ(owner[static_cast<std::size_t>(i)], -1) << "row owned twice";
          owner[static_cast<std::size_t>(i)] = rank;
        }
        expect_begin = r.end;
      }
      ASSERT_EQ(expect_begin, n);
      for (int o : owner) ASSERT_GE(o, 0) << "row not owned";
    }
  }
}

TEST(ShardRange, LargeN) {
  const std::int64_t n = (std::int64_t{1} << 40) + 3;
  Range last = shard_range(n, 6, 7);
  EXPECT_EQ(last.end, n);
  EXPECT_EQ(shard_range(n, 0, 7).size(), n / 7 + 1);
}

// An InputError (exit code 2) naming the argument that is wrong and all three values.
void expect_bad_argument(std::int64_t n, int rank, int size, const std::string& field) {
  try {
    shard_range(n, rank, size);
    ADD_FAILURE() << "no error for n=" << n << " rank=" << rank << " size=" << size;
  } catch (const fathom::InputError& e) {
    std::string m = e.what();
    EXPECT_EQ(e.field(), field) << m;
    EXPECT_EQ(m.rfind("shard_range: field '" + field + "': ", 0), 0u) << m;
    EXPECT_NE(m.find("(got n=" + std::to_string(n) + " rank=" + std::to_string(rank) + " size=" +
                     std::to_string(size) + ")"),
              std::string::npos)
        << m;
    EXPECT_EQ(fathom::exit_code_for(e), 2);
  }
}

TEST(ShardRange, RejectsBadArguments) {
  expect_bad_argument(5, 0, 0, "size");
  expect_bad_argument(5, 0, -3, "size");
  expect_bad_argument(5, -1, 2, "rank");
  expect_bad_argument(5, 2, 2, "rank");
  expect_bad_argument(-1, 0, 1, "n");
  Range all;
  EXPECT_EQ(all.size(), -1);
  EXPECT_TRUE(all.contains(123456789));
}

class ReadShardTest : public fathom::test::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    // read_shard warns about skipped records once per call; hundreds here.
    level_ = spdlog::get_level();
    spdlog::set_level(spdlog::level::err);
  }
  void TearDown() override {
    spdlog::set_level(level_);
    TempDirTest::TearDown();
  }
  spdlog::level::level_enum level_ = spdlog::level::info;
};

// n records in each format, with blank lines, multi-line CSV records and (when
// `bad`) a few invalid records, which still take a record number.
std::string make(const std::string& format, int n, bool bad) {
  std::string s = format == "jsonl" ? "" : format == "tsv" ? "id\ttext\tlabel\n" : "id,text,label\n";
  for (int i = 0; i < n; ++i) {
    bool broken = bad && i % 4 == 1;
    std::string id = "r" + std::to_string(i), text = "text " + std::to_string(i);
    if (format == "jsonl") {
      s += broken ? "{\"id\": \"" + id + "\", \"text\": 1}\n"
                  : "{\"id\": \"" + id + "\", \"text\": \"" + text + "\", \"label\": " +
                        std::to_string(i % 3) + "}\n";
    } else if (format == "tsv") {
      s += broken ? id + "\t\t0\n" : id + "\t" + text + "\t" + std::to_string(i % 3) + "\n";
    } else {
      s += broken ? id + ",\"x\"y,0\n"
                  : id + ",\"" + text + ",\n\"\"quoted\"\"\"," + std::to_string(i % 3) + "\n";
    }
    if (i % 3 == 2) s += "\n";  // blank lines are not records
  }
  return s;
}

bool same(const Example& a, const Example& b) {
  return a.id == b.id && a.text == b.text && a.text_pair == b.text_pair && a.label == b.label &&
         a.line == b.line;
}

TEST_F(ReadShardTest, ShardsConcatenateToFullRead) {
  for (const std::string format : {"jsonl", "tsv", "csv"}) {
    for (bool bad : {false, true}) {
      CorpusOptions o;
      if (bad) o.on_error = CorpusOptions::OnError::skip;
      for (int n : {0, 1, 2, 3, 5, 7, 100}) {
        std::string p = write("c" + std::to_string(n) + (bad ? "b." : ".") + format, make(format, n, bad));
        for (int size : {1, 2, 3, 4, 8}) {
          SCOPED_TRACE(format + " n=" + std::to_string(n) + " size=" + std::to_string(size) +
                       (bad ? " skip" : ""));
          if (n == 0) {  // an empty corpus is an error for every reader
            EXPECT_THROW(fathom::data::count_records(p, o), fathom::InputError);
            EXPECT_THROW(fathom::data::read_corpus(p, o), fathom::InputError);
            for (int rank = 0; rank < size; ++rank) {
              EXPECT_THROW(fathom::data::read_shard(p, o, rank, size), fathom::InputError);
            }
            continue;
          }
          ASSERT_EQ(fathom::data::count_records(p, o), n);
          auto full = fathom::data::read_corpus(p, o);
          std::size_t good = 0;
          for (int i = 0; i < n; ++i) good += !(bad && i % 4 == 1);
          ASSERT_EQ(full.size(), good);
          std::vector<Example> joined;
          for (int rank = 0; rank < size; ++rank) {
            auto part = fathom::data::read_shard(p, o, rank, size);
            joined.insert(joined.end(), part.begin(), part.end());
          }
          ASSERT_EQ(joined.size(), full.size());
          for (std::size_t i = 0; i < full.size(); ++i) {
            ASSERT_TRUE(same(joined[i], full[i])) << i << ": " << joined[i].id << " vs " << full[i].id;
          }
        }
      }
    }
  }
}

}  // namespace
