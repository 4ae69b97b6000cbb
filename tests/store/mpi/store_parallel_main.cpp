// Parallel cache writes under a real mpirun (2 and 3 ranks): every rank
// writes its own chunks through MPI-IO, and the result must hold exactly the
// data a single process writes (rank 0 writes that reference with the local
// communicator). Also resume across ranks, refusal on every rank, and
// finalize's all-ranks completeness check.
// EXPECT only between collectives: a rank returning early would hang the rest.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "mpi_gtest.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/core/log.h"
#include "fathom/store/cache_reader.h"
#include "fathom/store/cache_writer.h"
#include "store/store_fixtures.h"

namespace fathom::store {
namespace {

comm::Communicator* g_comm = nullptr;

constexpr std::int64_t kRows = 1000, kRpc = 37;  // 28 chunks, the last has 1 row


// A directory every rank agrees on (rank 0's pid), removed by rank 0.
class SharedDir {
 public:
  explicit SharedDir(const std::string& name) {
    std::string p;
    if (g_comm->rank() == 0) {
      p = (std::filesystem::temp_directory_path() / ("fathom_store_mpi_" + name + "_" + std::to_string(::getpid())))
              .string();
      std::filesystem::remove_all(p);
      std::filesystem::create_directories(p);
    }
    g_comm->broadcast(p, 0);
    path_ = p;
  }
  ~SharedDir() {
    g_comm->barrier();
    std::error_code ec;
    if (g_comm->rank() == 0) std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// The single-process reference, written by the calling rank alone.
void write_reference(const std::string& path, const CacheSchema& schema) {
  auto local = comm::make_communicator("local");
  CacheWriter w = CacheWriter::create(path, schema, *local);
  testing::write_example_rows(w, 0, schema.rows);
  w.finalize();
}

// Dataset contents bit for bit, completion and attributes (created_at
// aside) of two caches.
void expect_same_contents(const std::string& got_path, const std::string& want_path) {
  CacheReader got = CacheReader::open(got_path), want = CacheReader::open(want_path);
  ASSERT_EQ(got.rows(), want.rows());
  ASSERT_EQ(got.schema().datasets.size(), want.schema().datasets.size());
  EXPECT_TRUE(got.is_complete());
  EXPECT_EQ(got.completed_chunk_count(), got.num_chunks());
  EXPECT_EQ(got.schema().attributes.values(), want.schema().attributes.values());
  for (const auto& name : {"format", "format_version", "rows_per_chunk", "fathom_version", "complete"})
    EXPECT_TRUE(*got.attributes().find(name) == *want.attributes().find(name)) << name;
  const std::int64_t n = got.rows();
  for (const DatasetSpec& d : want.schema().datasets) {
    EXPECT_EQ(got.dataset(d.name), d);
    const std::size_t values = std::size_t(n * d.values_per_row());
    // The same raw values in both files (floats bit for bit, f16 as its bits).
    auto same = [&](auto element, auto read) {
      std::vector<decltype(element)> a(values), b(values);
      read(got, a.data());
      read(want, b.data());
      EXPECT_EQ(std::memcmp(a.data(), b.data(), values * sizeof(element)), 0) << d.name;
    };
    const std::string& name = d.name;
    switch (d.type) {
      case ElementType::f32:
        same(float(), [&](const CacheReader& r, float* out) { r.read_rows(name, 0, n, out); });
        break;
      case ElementType::f16:
        same(std::uint16_t(), [&](const CacheReader& r, std::uint16_t* out) { r.read_half_bits(name, 0, n, out); });
        break;
      case ElementType::i64:
        same(std::int64_t(), [&](const CacheReader& r, std::int64_t* out) { r.read_rows(name, 0, n, out); });
        break;
      case ElementType::str:
        EXPECT_EQ(got.read_strings(name, 0, n), want.read_strings(name, 0, n)) << name;
        break;
    }
  }
  // And the values themselves, not just agreement.
  std::vector<float> features(std::size_t(n * testing::kFeatures));
  got.read_rows("features", 0, n, features.data());
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t c = 0; c < testing::kFeatures; ++c)
      ASSERT_EQ(features[std::size_t(r * testing::kFeatures + c)], testing::feature_of(r, c));
  const auto ids = got.read_strings("ids", 0, n);
  for (std::int64_t r = 0; r < n; ++r) ASSERT_EQ(ids[std::size_t(r)], testing::id_of(r));
}

// What one rank's call threw.
struct Thrown {
  bool thrown = false;
  ErrorKind kind = ErrorKind::Internal;
  int exit_code = 0;
  std::string what;
};

template <class F>
Thrown thrown_by(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return {true, e.kind(), exit_code_for(e), describe(e)};
  } catch (const std::exception& e) {
    return {true, ErrorKind::Internal, exit_code_for(e), describe(e)};
  }
  return {};
}

// An input error on this rank, whichever rank found it: kind Input, exit
// code 2, and the message (rank 0's problem) says `fragment`.
void expect_input_error(const Thrown& t, const std::string& fragment) {
  ASSERT_TRUE(t.thrown) << "no exception on rank " << g_comm->rank();
  EXPECT_EQ(t.kind, ErrorKind::Input) << t.what;
  EXPECT_EQ(t.exit_code, 2) << t.what;
  EXPECT_NE(t.what.find(fragment), std::string::npos) << t.what;
}

// COLLECTIVE. Every rank opens one cache in `dir`, `write` writes this
// rank's part, all finalize; rank 0 then compares the file with the
// single-process reference.
void expect_parallel_write_equals_reference(const std::string& dir_name,
                                            const std::function<void(CacheWriter&)>& write) {
  SharedDir dir(dir_name);
  const CacheSchema schema = testing::example_schema(kRows, kRpc);
  {
    CacheWriter w = CacheWriter::create(dir.file("cache.h5"), schema, *g_comm);
    EXPECT_TRUE(w.parallel());
    write(w);
    w.finalize();
  }
  if (g_comm->rank() == 0) {
    write_reference(dir.file("reference.h5"), schema);
    expect_same_contents(dir.file("cache.h5"), dir.file("reference.h5"));
  }
}

TEST(storeMpi, EachRankWritesItsChunks) {
  expect_parallel_write_equals_reference("write", [](CacheWriter& w) {
    for (std::int64_t c : w.chunks_of_rank(g_comm->rank(), g_comm->size())) testing::write_example_chunk(w, c);
  });
}

TEST(storeMpi, UnevenWorkOneRankWritesEverything) {
  // Independent I/O: the other ranks make no write calls at all.
  expect_parallel_write_equals_reference("uneven", [](CacheWriter& w) {
    if (g_comm->rank() == g_comm->size() - 1) testing::write_example_rows(w, 0, kRows);
  });
}

TEST(storeMpi, ResumeAfterInterruption) {
  SharedDir dir("resume");
  const std::string path = dir.file("cache.h5");
  const CacheSchema schema = testing::example_schema(kRows, kRpc);
  const int rank = g_comm->rank(), size = g_comm->size();
  std::vector<std::int64_t> done_before;  // every rank's first half, in order
  for (int r = 0; r < size; ++r) {
    const auto mine = chunks_of_rank(num_chunks(kRows, kRpc), r, size);
    done_before.insert(done_before.end(), mine.begin(), mine.begin() + std::ptrdiff_t(mine.size() / 2));
  }
  {
    CacheWriter w = CacheWriter::create(path, schema, *g_comm);
    const auto mine = w.chunks_of_rank(rank, size);
    for (std::size_t i = 0; i < mine.size() / 2; ++i) testing::write_example_chunk(w, mine[i]);
    // Start the next chunk but do not finish it.
    const RowRange r = w.chunk_rows(mine[mine.size() / 2]);
    testing::write_example_rows(w, r.begin, 2);
  }  // destroyed without finalize

  // A different model: refused on every rank, file untouched.
  std::string before;
  if (rank == 0) before = file_bytes(path);
  CacheSchema other = schema;
  other.attributes.set("model_sha256", "beef");
  const Thrown refused = thrown_by([&] { CacheWriter::open_for_resume(path, other, *g_comm); });
  expect_input_error(refused, "model_sha256: file has 9f86d08");
  if (rank == 0) EXPECT_TRUE(file_bytes(path) == before);

  {
    CacheWriter w = CacheWriter::open_for_resume(path, schema, *g_comm);
    EXPECT_EQ(w.completed_chunks(), done_before);
    for (std::int64_t c : w.pending_chunks(rank, size)) testing::write_example_chunk(w, c);
    w.finalize();
  }
  if (rank == 0) {
    write_reference(dir.file("reference.h5"), schema);
    expect_same_contents(path, dir.file("reference.h5"));
  }
}

// Rank 0 checks the output before any rank touches it; its InputError is
// an InputError (exit code 2) on every rank, not an internal error (1).
TEST(storeMpi, InputErrorOnRootIsAnInputErrorOnEveryRank) {
  SharedDir dir("input_error");
  const CacheSchema schema = testing::example_schema(kRows, kRpc);
  // An existing file of another format: not resumable, and left as it was.
  const std::string foreign = dir.file("notes.txt");
  if (g_comm->rank() == 0) std::ofstream(foreign) << "not a cache";
  g_comm->barrier();
  expect_input_error(thrown_by([&] { CacheWriter::open_or_create(foreign, schema, *g_comm); }), "notes.txt");
  if (g_comm->rank() == 0) EXPECT_EQ(file_bytes(foreign), "not a cache");
  // A directory that does not exist.
  expect_input_error(thrown_by([&] { CacheWriter::create(dir.file("missing/cache.h5"), schema, *g_comm); }),
                     "does not exist");
  // A directory where the file should be.
  expect_input_error(thrown_by([&] { CacheWriter::create(dir.file(""), schema, *g_comm); }), "is a directory");
  // And the communicator is still in step: a cache can be written after.
  CacheWriter w = CacheWriter::create(dir.file("after.h5"), schema, *g_comm);
  for (std::int64_t c : w.chunks_of_rank(g_comm->rank(), g_comm->size())) testing::write_example_chunk(w, c);
  w.finalize();
}

TEST(storeMpi, FinalizeNeedsEveryRanksChunks) {
  SharedDir dir("incomplete");
  CacheWriter w = CacheWriter::create(dir.file("cache.h5"), testing::example_schema(kRows, kRpc), *g_comm);
  if (g_comm->rank() == 0)
    for (std::int64_t c : w.chunks_of_rank(0, g_comm->size())) testing::write_example_chunk(w, c);
  std::string message;
  try {
    w.finalize();
  } catch (const Error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("row-chunks are incomplete"), std::string::npos) << message;
}

}  // namespace
}  // namespace fathom::store

int main(int argc, char** argv) {
  auto comm = fathom::testing::start_mpi_gtest(&argc, argv);
  fathom::store::g_comm = comm.get();
  return fathom::testing::any_rank_failed(*comm) ? 1 : 0;
}
