// Write a cache with the local communicator, read it back: every dtype,
// every attribute type, completion records and the writer's usage checks.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/store/cache_reader.h"
#include "fathom/store/cache_writer.h"
#include "fathom/store/half.h"
#include "store_fixtures.h"

namespace fathom::store {
namespace {

using testing::example_schema;

constexpr std::int64_t kRows = 103, kRpc = 10;  // 11 chunks, the last has 3 rows

class StoreRoundTrip : public ::testing::Test {
 protected:
  void SetUp() override { comm = comm::make_communicator("local"); }
  std::unique_ptr<comm::Communicator> comm;
  testing::TempDir dir{"roundtrip"};
};

void expect_example_rows(const CacheReader& r, std::int64_t begin, std::int64_t count) {
  const auto ids = r.read_strings("ids", begin, count);
  std::vector<std::int64_t> labels(count), predictions(count);
  std::vector<float> losses(count), features(count * testing::kFeatures), gradients(count * testing::kGradients);
  r.read_rows("labels", begin, count, labels.data());
  r.read_rows("predictions", begin, count, predictions.data());
  r.read_rows("losses", begin, count, losses.data());
  r.read_rows("features", begin, count, features.data());
  r.read_rows("gradients", begin, count, gradients.data());
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int64_t row = begin + i;
    ASSERT_EQ(ids[i], testing::id_of(row));
    ASSERT_EQ(labels[i], testing::label_of(row));
    ASSERT_EQ(predictions[i], testing::prediction_of(row));
    ASSERT_EQ(losses[i], testing::loss_of(row));
    for (std::int64_t c = 0; c < testing::kFeatures; ++c)
      ASSERT_EQ(features[i * testing::kFeatures + c], testing::feature_of(row, c));
    for (std::int64_t c = 0; c < testing::kGradients; ++c) {
      // f16 storage: exactly the rounded value (inf for the huge ones).
      const float want = half_to_float(float_to_half(testing::gradient_of(row, c)));
      ASSERT_EQ(gradients[i * testing::kGradients + c], want) << "row " << row << " col " << c;
    }
  }
}

TEST_F(StoreRoundTrip, AllDtypesAndAttributes) {
  const std::string path = dir.file("cache.h5");
  const CacheSchema schema = example_schema(kRows, kRpc);
  {
    CacheWriter w = CacheWriter::create(path, schema, *comm);
    EXPECT_FALSE(w.parallel());
    EXPECT_EQ(w.num_chunks(), 11);
    // Whole-range writes span chunks; the writer splits them.
    testing::write_example_rows(w, 0, kRows);
    EXPECT_EQ(w.completed_chunks().size(), 11u);
    w.finalize();
    EXPECT_THROW(w.finalize(), UsageError);
  }
  CacheReader r = CacheReader::open(path);
  EXPECT_EQ(r.rows(), kRows);
  EXPECT_EQ(r.rows_per_chunk(), kRpc);
  EXPECT_EQ(r.num_chunks(), 11);
  EXPECT_TRUE(r.is_complete());
  EXPECT_EQ(r.completed_chunk_count(), 11);
  // Schema comes back in creation order with the caller's attributes only.
  ASSERT_EQ(r.schema().datasets.size(), schema.datasets.size());
  for (std::size_t i = 0; i < schema.datasets.size(); ++i) EXPECT_EQ(r.schema().datasets[i], schema.datasets[i]);
  EXPECT_EQ(r.schema().attributes.values(), schema.attributes.values());

  const Attributes& a = r.attributes();
  EXPECT_EQ(a.get_string("format"), "fathom.cache");
  EXPECT_EQ(a.get_int("format_version"), 1);
  EXPECT_EQ(a.get_int("complete"), 1);
  EXPECT_EQ(a.get_int("rows_per_chunk"), kRpc);
  EXPECT_FALSE(a.get_string("fathom_version").empty());
  EXPECT_EQ(a.get_string("created_at").size(), 20u);  // 2024-01-02T03:04:05Z
  EXPECT_EQ(a.get_string("model_sha256"), schema.attributes.get_string("model_sha256"));
  EXPECT_EQ(a.get_strings("parameter_names"), (std::vector<std::string>{"encoder.weight", "classifier.bias"}));
  EXPECT_EQ(a.get_ints("parameter_shapes"), (std::vector<std::int64_t>{4, 3, 0, 3}));
  EXPECT_EQ(a.get_int("projection_seed"), 1234567890123);
  EXPECT_EQ(a.get_double("learning_rate"), 2.5e-5);
  EXPECT_EQ(a.get_doubles("layer_scales"), (std::vector<double>{0.5, 1.0 / 3.0}));

  expect_example_rows(r, 0, kRows);
  expect_example_rows(r, 17, 9);  // unaligned window
  std::vector<std::uint16_t> raw(testing::kGradients);
  r.read_half_bits("gradients", 5, 1, raw.data());
  EXPECT_EQ(raw[0], 0x7c00);  // 1e6 overflowed to +inf
}

TEST_F(StoreRoundTrip, EmptyAndEdgeAttributeValues) {
  CacheSchema s;
  s.rows = 3;
  s.datasets = {{"x", 0, ElementType::f32}};
  s.attributes.set("empty_string", "");
  s.attributes.set("empty_list", std::vector<std::string>{});
  s.attributes.set("unicode", "Zürich – 東京");
  s.attributes.set("negative", -7);
  const std::string path = dir.file("edge.h5");
  {
    CacheWriter w = CacheWriter::create(path, s, *comm);
    const float x[3] = {1, 2, 3};
    w.write_rows("x", 0, 3, x);
    w.finalize();
  }
  CacheReader r = CacheReader::open(path);
  EXPECT_EQ(r.schema().attributes.values(), s.attributes.values());
}

TEST_F(StoreRoundTrip, UnfinishedCacheReadsAsIncomplete) {
  const std::string path = dir.file("partial.h5");
  {
    CacheWriter w = CacheWriter::create(path, example_schema(kRows, kRpc), *comm);
    testing::write_example_chunk(w, 2);
    testing::write_example_rows(w, 30, 5);  // half of chunk 3
    EXPECT_TRUE(w.chunk_complete(2));
    EXPECT_FALSE(w.chunk_complete(3));
    EXPECT_EQ(w.completed_chunks(), (std::vector<std::int64_t>{2}));
    EXPECT_THROW(w.finalize(), Error);  // names the missing chunks; writer stays usable
  }
  CacheReader r = CacheReader::open(path);
  EXPECT_FALSE(r.is_complete());
  EXPECT_EQ(r.completed_chunk_count(), 1);
  EXPECT_TRUE(r.chunk_complete(2));
  EXPECT_FALSE(r.chunk_complete(3));
  expect_example_rows(r, 20, 10);
}

TEST_F(StoreRoundTrip, WriterRefusesMisuse) {
  const std::string path = dir.file("misuse.h5");
  CacheWriter w = CacheWriter::create(path, example_schema(kRows, kRpc), *comm);
  std::vector<float> f(100 * testing::kFeatures, 1.0f);
  std::vector<std::int64_t> i(100, 1);
  EXPECT_THROW(w.write_rows("nope", 0, 1, f.data()), UsageError);
  EXPECT_THROW(w.write_rows("labels", 0, 1, f.data()), UsageError);      // float into i64
  EXPECT_THROW(w.write_rows("losses", 0, 1, i.data()), UsageError);      // int into f32
  EXPECT_THROW(w.write_rows("losses", 100, 5, f.data()), UsageError);    // past the end
  EXPECT_THROW(w.write_rows("losses", 5, 2, f.data()), UsageError);      // gap: chunk 0 starts at 0
  w.write_rows("losses", 0, 4, f.data());
  EXPECT_THROW(w.write_rows("losses", 0, 4, f.data()), UsageError);      // rewrite
  EXPECT_THROW(w.write_rows("losses", 5, 1, f.data()), UsageError);      // gap
  w.write_rows("losses", 4, 6, f.data());                                // continues
  const std::string long_id(testing::kIdWidth + 1, 'x');
  try {
    w.write_strings("ids", 0, 1, &long_id);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("row 0"), std::string::npos) << e.what();
  }
  testing::write_example_chunk(w, 1);
  EXPECT_THROW(testing::write_example_chunk(w, 1), UsageError);  // already complete
  try {
    w.write_rows("losses", 10, 1, f.data());
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("already complete"), std::string::npos) << e.what();
  }
}

TEST_F(StoreRoundTrip, CreateWhereNoFileCanBeIsAnInputError) {
  // Checked before HDF5 is asked: the user's mistake, exit code 2.
  const std::string missing_dir = dir.file("no/such/dir/cache.h5");
  try {
    CacheWriter::create(missing_dir, example_schema(kRows, kRpc), *comm);
    FAIL() << "created a cache in a directory that does not exist";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(missing_dir), std::string::npos) << what;
    EXPECT_NE(what.find("does not exist"), std::string::npos) << what;
    EXPECT_EQ(exit_code_for(e), 2);
  }
  try {
    CacheWriter::create(dir.path().string(), example_schema(kRows, kRpc), *comm);
    FAIL() << "created a cache over a directory";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("is a directory"), std::string::npos) << e.what();
  }
}

TEST_F(StoreRoundTrip, CreateFailsWithHdf5Message) {
  // HDF5 refuses to truncate a file this process has open: its error stack
  // reaches the message.
  const std::string path = dir.file("open.h5");
  CacheWriter open = CacheWriter::create(path, example_schema(kRows, kRpc), *comm);
  try {
    CacheWriter::create(path, example_schema(kRows, kRpc), *comm);
    FAIL() << "truncated a cache another writer has open";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("H5Fcreate"), std::string::npos) << what;
    EXPECT_NE(what.find(path), std::string::npos) << what;
  }
}

TEST_F(StoreRoundTrip, ReaderRejectsNonCaches) {
  EXPECT_THROW(CacheReader::open(dir.file("missing.h5")), InputError);
  const std::string text = dir.file("text.h5");
  std::ofstream(text) << "not hdf5";
  try {
    CacheReader::open(text);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("HDF5"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace fathom::store
