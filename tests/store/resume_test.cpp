// Resuming an interrupted cache: after the writer was destroyed, after the
// process was SIGKILLed mid-chunk, and refusal (file untouched) when the
// run's schema or provenance differs.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/store/cache_reader.h"
#include "fathom/store/cache_writer.h"
#include "python_util.h"
#include "store_fixtures.h"

namespace fathom::store {
namespace {

using testing::example_schema;

constexpr std::int64_t kRows = 95, kRpc = 8;  // 12 chunks

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

struct timespec mtime_of(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mtim;
}

class StoreResume : public ::testing::Test {
 protected:
  void SetUp() override { comm = comm::make_communicator("local"); }
  // Finishes an opened cache and checks every row.
  void finish_and_verify(CacheWriter& w, const std::string& path) {
    for (std::int64_t c : w.pending_chunks(0, 1)) testing::write_example_chunk(w, c);
    w.finalize();
    CacheReader r = CacheReader::open(path);
    EXPECT_TRUE(r.is_complete());
    std::vector<float> features(kRows * testing::kFeatures);
    r.read_rows("features", 0, kRows, features.data());
    for (std::int64_t row = 0; row < kRows; ++row)
      for (std::int64_t c = 0; c < testing::kFeatures; ++c)
        ASSERT_EQ(features[row * testing::kFeatures + c], testing::feature_of(row, c));
    const auto ids = r.read_strings("ids", 0, kRows);
    for (std::int64_t row = 0; row < kRows; ++row) ASSERT_EQ(ids[row], testing::id_of(row));
  }
  std::unique_ptr<comm::Communicator> comm;
  testing::TempDir dir{"resume"};
};

TEST_F(StoreResume, DestroyedWriterResumesAtIncompleteChunks) {
  const std::string path = dir.file("cache.h5");
  const CacheSchema schema = example_schema(kRows, kRpc);
  {
    CacheWriter w = CacheWriter::create(path, schema, *comm);
    for (std::int64_t c : {0, 1, 2, 5}) testing::write_example_chunk(w, c);
    testing::write_example_rows(w, 3 * kRpc, 3);  // chunk 3 in progress
    // destroyed without finalize()
  }
  bool resumed = false;
  CacheWriter w = CacheWriter::open_or_create(path, schema, *comm, &resumed);
  EXPECT_TRUE(resumed);
  EXPECT_EQ(w.completed_chunks(), (std::vector<std::int64_t>{0, 1, 2, 5}));
  EXPECT_TRUE(w.chunk_complete(5));
  EXPECT_FALSE(w.chunk_complete(3));
  EXPECT_EQ(w.pending_chunks(0, 2), (std::vector<std::int64_t>{3, 4}));
  // The chunk in progress is rewritten from its first row.
  finish_and_verify(w, path);
}

TEST_F(StoreResume, SigkillLosesOnlyTheChunkInProgress) {
  const std::string path = dir.file("killed.h5");
  const CacheSchema schema = example_schema(kRows, kRpc);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // No gtest in the child: any failure is an exit code.
    try {
      auto local = comm::make_communicator("local");
      CacheWriter w = CacheWriter::create(path, schema, *local);
      for (std::int64_t c : {0, 1, 2}) testing::write_example_chunk(w, c);
      testing::write_example_rows(w, 3 * kRpc, 5);
      ::kill(::getpid(), SIGKILL);
    } catch (...) {
      ::_exit(3);
    }
    ::_exit(4);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;

  {
    CacheReader r = CacheReader::open(path);  // the killed file is readable
    EXPECT_FALSE(r.is_complete());
    EXPECT_EQ(r.completed_chunk_count(), 3);
  }
  CacheWriter w = CacheWriter::open_for_resume(path, schema, *comm);
  EXPECT_EQ(w.completed_chunks(), (std::vector<std::int64_t>{0, 1, 2}));
  finish_and_verify(w, path);
}

TEST_F(StoreResume, DifferentAttributeIsRefusedAndFileUntouched) {
  const std::string path = dir.file("cache.h5");
  const CacheSchema schema = example_schema(kRows, kRpc);
  {
    CacheWriter w = CacheWriter::create(path, schema, *comm);
    testing::write_example_chunk(w, 0);
  }
  const std::string before = file_bytes(path);
  const auto mtime_before = mtime_of(path);

  CacheSchema other = schema;
  other.attributes.set("model_sha256", "0000");
  try {
    CacheWriter::open_for_resume(path, other, *comm);
    FAIL() << "resume with another model was accepted";
  } catch (const InputError& e) {
    const std::string want = "model_sha256: file has " + schema.attributes.get_string("model_sha256") +
                             ", this run has 0000";
    EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  auto expect_refused = [&](const CacheSchema& s, const std::string& fragment) {
    try {
      CacheWriter::open_for_resume(path, s, *comm);
      ADD_FAILURE() << "accepted: " << fragment;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  CacheSchema s = schema;
  s.attributes.set("projection_dim", 13);
  expect_refused(s, "projection_dim: file has 12, this run has 13");
  s = schema;
  s.attributes.set("projection_dim", "12");  // same text, other type
  expect_refused(s, "projection_dim: file has 12 (int), this run has 12 (string)");
  s = schema;
  s.attributes.erase("tokenizer");
  expect_refused(s, "tokenizer: file has wordpiece (string), this run has (none)");
  s = schema;
  s.attributes.set("extra", 1);
  expect_refused(s, "extra: file has (none)");
  s = schema;
  s.datasets[4].width = 9;
  expect_refused(s, "dataset features: file has f32[8], this run has f32[9]");
  s = schema;
  s.datasets[5].type = ElementType::f32;
  expect_refused(s, "dataset gradients: file has f16[12], this run has f32[12]");
  s = schema;
  s.rows = kRows + 1;
  expect_refused(s, "rows: file has 95, this run has 96");
  s = schema;
  s.rows_per_chunk = 16;
  expect_refused(s, "rows_per_chunk: file has 8, this run has 16");

  // Refusals checked the file read-only: not one byte, not the mtime, changed.
  EXPECT_TRUE(file_bytes(path) == before);
  const auto mtime_after = mtime_of(path);
  EXPECT_EQ(mtime_after.tv_sec, mtime_before.tv_sec);
  EXPECT_EQ(mtime_after.tv_nsec, mtime_before.tv_nsec);
  // And the matching run still resumes.
  CacheWriter w = CacheWriter::open_for_resume(path, schema, *comm);
  EXPECT_EQ(w.completed_chunks(), (std::vector<std::int64_t>{0}));
}

TEST_F(StoreResume, MissingOrForeignFile) {
  const CacheSchema schema = example_schema(kRows, kRpc);
  EXPECT_THROW(CacheWriter::open_for_resume(dir.file("absent.h5"), schema, *comm), InputError);
  bool resumed = true;
  {
    CacheWriter w = CacheWriter::open_or_create(dir.file("absent.h5"), schema, *comm, &resumed);
    EXPECT_FALSE(resumed);
  }
  // A file that is not HDF5: refused as an input error naming it and why,
  // and left exactly as it was (open_or_create must not truncate it).
  const std::string text = dir.file("notes.txt");
  std::ofstream(text) << "not hdf5";
  try {
    CacheWriter::open_or_create(text, schema, *comm);
    ADD_FAILURE() << "resumed a text file";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("HDF5"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cannot resume"), std::string::npos) << e.what();
  }
  EXPECT_EQ(file_bytes(text), "not hdf5");
}

TEST_F(StoreResume, ForeignHdf5FileIsRefusedAndUntouched) {
  if (!testing::python_has("h5py, numpy")) GTEST_SKIP() << "/usr/bin/python3 with h5py not available";
  const std::string path = dir.file("foreign.h5");
  const auto made = testing::run_python(dir.file("make.py"),
                                        "import sys, h5py, numpy as np\n"
                                        "with h5py.File(sys.argv[1], 'w') as f:\n"
                                        "    f['ids'] = np.zeros(95, dtype='S16')\n"
                                        "    f.attrs['format'] = 'something.else'\n",
                                        path);
  ASSERT_EQ(made.exit_code, 0) << made.output;
  const std::string before = file_bytes(path);
  try {
    CacheWriter::open_or_create(path, example_schema(kRows, kRpc), *comm);
    FAIL() << "resumed an HDF5 file that is not a fathom cache";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("not a fathom cache"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_TRUE(file_bytes(path) == before);
}

}  // namespace
}  // namespace fathom::store
