// describe(): text and JSON summaries of caches (complete or not) and of
// HDF5 files that are not caches.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/store/cache_writer.h"
#include "fathom/store/describe.h"
#include "python_util.h"
#include "store_fixtures.h"

namespace fathom::store {
namespace {

TEST(StoreDescribe, PartialCache) {
  testing::TempDir dir("describe");
  const std::string path = dir.file("cache.h5");
  auto comm = comm::make_communicator("local");
  {
    CacheWriter w = CacheWriter::create(path, testing::example_schema(40, 10), *comm);
    testing::write_example_chunk(w, 0);
    testing::write_example_chunk(w, 2);
  }
  const FileSummary s = describe(path);
  const auto j = nlohmann::json::parse(s.json);
  EXPECT_EQ(j["format"], "fathom.cache");
  EXPECT_EQ(j["format_version"], 1);
  EXPECT_EQ(j["complete"], false);
  EXPECT_EQ(j["chunks_done"], 2);
  EXPECT_EQ(j["chunks_total"], 4);
  EXPECT_GT(j["file_bytes"].get<std::int64_t>(), 40 * (8 + 12) * 2);
  ASSERT_EQ(j["datasets"].size(), 7u);  // 6 + /complete, in creation order
  EXPECT_EQ(j["datasets"][0]["name"], "/ids");
  EXPECT_EQ(j["datasets"][0]["dtype"], "string[16]");
  EXPECT_EQ(j["datasets"][4]["name"], "/features");
  EXPECT_EQ(j["datasets"][4]["shape"], nlohmann::json::array({40, 8}));
  EXPECT_EQ(j["datasets"][4]["chunks"], nlohmann::json::array({10, 8}));
  EXPECT_EQ(j["datasets"][4]["dtype"], "f32");
  EXPECT_EQ(j["datasets"][5]["dtype"], "f16");
  EXPECT_EQ(j["datasets"][6]["name"], "/complete");
  EXPECT_TRUE(j["datasets"][6]["chunks"].is_null());
  EXPECT_EQ(j["attributes"]["projection_seed"], 1234567890123);
  EXPECT_EQ(j["attributes"]["parameter_names"], nlohmann::json::array({"encoder.weight", "classifier.bias"}));
  EXPECT_EQ(j["attributes"]["learning_rate"], 2.5e-5);

  EXPECT_NE(s.text.find("fathom.cache v1"), std::string::npos) << s.text;
  EXPECT_NE(s.text.find("complete: no (2/4 row-chunks written)"), std::string::npos) << s.text;
  EXPECT_NE(s.text.find("/features"), std::string::npos);
  EXPECT_NE(s.text.find("chunks [10, 8]"), std::string::npos) << s.text;
  EXPECT_NE(s.text.find("model_sha256 = 9f86d08"), std::string::npos) << s.text;
}

TEST(StoreDescribe, ForeignHdf5File) {
  if (!testing::python_has("h5py, numpy")) GTEST_SKIP() << "/usr/bin/python3 with h5py not available";
  testing::TempDir dir("describe_foreign");
  const std::string path = dir.file("other.h5");
  const auto r = testing::run_python(dir.file("make.py"),
                                     "import sys, h5py, numpy as np\n"
                                     "with h5py.File(sys.argv[1], 'w') as f:\n"
                                     "    f['a/b'] = np.arange(6, dtype='u2').reshape(2, 3)\n"
                                     "    f.attrs['note'] = 'hello'\n"
                                     "    f.attrs['pair'] = np.zeros(2, dtype=[('x', 'i4'), ('y', 'f4')])\n",
                                     path);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const FileSummary s = describe(path);
  const auto j = nlohmann::json::parse(s.json);
  EXPECT_TRUE(j["format"].is_null());
  ASSERT_EQ(j["datasets"].size(), 1u);
  EXPECT_EQ(j["datasets"][0]["name"], "/a/b");
  EXPECT_EQ(j["datasets"][0]["dtype"], "uint16");
  EXPECT_EQ(j["attributes"]["note"], "hello");
  EXPECT_EQ(j["skipped_attributes"][0], "pair (compound)");
  EXPECT_NE(s.text.find("not a fathom cache"), std::string::npos) << s.text;
}

TEST(StoreDescribe, MissingFile) { EXPECT_THROW(describe("/nonexistent/x.h5"), InputError); }

}  // namespace
}  // namespace fathom::store
