// The manifest: a JSON round trip keeps every field; every malformed field is
// an InputError naming the file and that field; an index is refused with a
// cache other than its own, naming what differs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/index/build.h"
#include "fathom/index/manifest.h"
#include "fathom/store/cache_reader.h"
#include "index/index_cache.h"

namespace fathom::index {
namespace {

using nlohmann::json;

Manifest example() {
  Manifest m;
  m.spec = "IVF256,PQ16";
  m.metric = Metric::cosine;
  m.normalized = true;
  m.nprobe = 16;
  m.field = "gradients";
  m.dim = 64;
  m.rows = 1000;
  m.train_rows = 900;
  m.seed = 18446744073709551615ull;  // the largest seed survives JSON
  m.cache_path = "/data/train-cache.h5";
  m.cache_identity = std::string(64, 'e');
  m.cache_provenance = {{"model_sha256", std::string(64, 'a')}, {"params", "[a, b]"}};
  m.shards = {{"i.faiss.shard-0-of-2", 0, 500, 1234}, {"i.faiss.shard-1-of-2", 500, 1000, 1200}};
  m.fathom_version = "0.1.0";
  m.created_at = "2024-01-02T03:04:05Z";
  return m;
}

TEST(Manifest, JsonRoundTripKeepsEveryField) {
  const Manifest m = example();
  const Manifest back = Manifest::from_json(m.to_json(), "i.faiss");
  EXPECT_EQ(back.spec, m.spec);
  EXPECT_EQ(back.metric, m.metric);
  EXPECT_EQ(back.normalized, m.normalized);
  EXPECT_EQ(back.nprobe, m.nprobe);
  EXPECT_EQ(back.field, m.field);
  EXPECT_EQ(back.dim, m.dim);
  EXPECT_EQ(back.rows, m.rows);
  EXPECT_EQ(back.train_rows, m.train_rows);
  EXPECT_EQ(back.seed, m.seed);
  EXPECT_EQ(back.cache_path, m.cache_path);
  EXPECT_EQ(back.cache_identity, m.cache_identity);
  EXPECT_EQ(back.cache_provenance, m.cache_provenance);
  ASSERT_EQ(back.shards.size(), 2u);
  for (std::size_t s = 0; s < 2; ++s) {
    EXPECT_EQ(back.shards[s].file, m.shards[s].file);
    EXPECT_EQ(back.shards[s].row_begin, m.shards[s].row_begin);
    EXPECT_EQ(back.shards[s].row_end, m.shards[s].row_end);
    EXPECT_EQ(back.shards[s].bytes, m.shards[s].bytes);
  }
  EXPECT_EQ(back.fathom_version, m.fathom_version);
  EXPECT_EQ(back.created_at, m.created_at);
  const json j = json::parse(m.to_json());
  EXPECT_EQ(j["format"], "fathom.index");
  EXPECT_EQ(j["format_version"], 1);
  EXPECT_EQ(j["metric"], "cosine");
  EXPECT_EQ(back.shard_path("/x/i.faiss", 1), "/x/i.faiss.shard-1-of-2");
}

struct Malformed {
  std::string field;  // what the error must name
  std::function<void(json&)> change;
};

TEST(Manifest, EveryMalformedFieldIsAnInputErrorNamingIt) {
  const std::vector<Malformed> cases = {
      {"format", [](json& j) { j["format"] = "fathom.cache"; }},
      {"format", [](json& j) { j.erase("format"); }},
      {"format_version", [](json& j) { j["format_version"] = 2; }},
      {"format_version", [](json& j) { j["format_version"] = "1"; }},
      {"spec", [](json& j) { j["spec"] = ""; }},
      {"spec", [](json& j) { j.erase("spec"); }},
      {"metric", [](json& j) { j["metric"] = "cos"; }},
      {"normalized", [](json& j) { j["normalized"] = false; }},
      {"normalized", [](json& j) { j["normalized"] = "yes"; }},
      {"nprobe", [](json& j) { j["nprobe"] = -1; }},
      {"nprobe", [](json& j) { j["nprobe"] = 1.5; }},
      {"field", [](json& j) { j["field"] = "logits"; }},
      {"dim", [](json& j) { j["dim"] = 0; }},
      {"rows", [](json& j) { j.erase("rows"); }},
      {"train_rows", [](json& j) { j["train_rows"] = 1001; }},
      {"seed", [](json& j) { j["seed"] = -1; }},
      {"cache", [](json& j) { j["cache"] = "x"; }},
      {"cache.path", [](json& j) { j["cache"].erase("path"); }},
      {"cache.identity", [](json& j) { j["cache"]["identity"] = "abc"; }},
      {"cache.provenance", [](json& j) { j["cache"]["provenance"] = json::array(); }},
      {"cache.provenance.params", [](json& j) { j["cache"]["provenance"]["params"] = 5; }},
      {"shards", [](json& j) { j["shards"] = json::array(); }},
      {"shards", [](json& j) { j["shards"][1]["row_end"] = 999; }},
      {"shards[1].row_begin", [](json& j) { j["shards"][1]["row_begin"] = 499; }},
      {"shards[0].row_end", [](json& j) { j["shards"][0]["row_end"] = 1001; }},
      {"shards[1].row_end", [](json& j) { j["shards"][1]["row_end"] = 400; }},
      {"shards[0].file", [](json& j) { j["shards"][0]["file"] = "../elsewhere"; }},
      {"shards[1].bytes", [](json& j) { j["shards"][1]["bytes"] = -5; }},
      {"shards[0]", [](json& j) { j["shards"][0] = 3; }},
      {"fathom_version", [](json& j) { j.erase("fathom_version"); }},
      {"created_at", [](json& j) { j["created_at"] = 7; }},
  };
  for (const Malformed& c : cases) {
    json j = json::parse(example().to_json());
    c.change(j);
    SCOPED_TRACE(c.field + ": " + j.dump());
    try {
      Manifest::from_json(j.dump(2), "bad.faiss");
      ADD_FAILURE() << "accepted";
    } catch (const InputError& e) {
      EXPECT_EQ(e.file(), "bad.faiss");
      EXPECT_EQ(e.field(), c.field) << e.what();
    }
  }
}

TEST(Manifest, NotJsonNamesTheLineAndEmptyOrMissingFilesAreInputErrors) {
  try {
    Manifest::from_json("{\n  \"format\": \"fathom.index\",\n  oops\n}", "bad.faiss");
    ADD_FAILURE() << "accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(e.line(), 3) << e.what();
  }
  EXPECT_THROW(Manifest::from_json("[]", "bad.faiss"), InputError);
  EXPECT_THROW(Manifest::load("/nonexistent/i.faiss"), InputError);
}

TEST(Manifest, MetricNames) {
  for (Metric m : {Metric::l2, Metric::ip, Metric::cosine}) EXPECT_EQ(metric_from_name(metric_name(m)), m);
  EXPECT_FALSE(larger_is_nearer(Metric::l2));
  EXPECT_TRUE(larger_is_nearer(Metric::ip));
  EXPECT_TRUE(larger_is_nearer(Metric::cosine));
  try {
    metric_from_name("L2");
    ADD_FAILURE();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("cosine"), std::string::npos);
  }
}

// An index built over one cache, checked against others.
class SameCache : public ::testing::Test {
 protected:
  void SetUp() override {
    comm_ = comm::make_communicator("local");
    testing::write_test_cache(dir_.file("a.h5"), {.rows = 100});
    BuildOptions o;
    o.cache = dir_.file("a.h5");
    o.out = dir_.file("a.faiss");
    o.progress_period_s = 1e9;
    manifest_ = build_index(o, *comm_);
  }
  // The InputError check_same_cache raises for `cache`, or "" if none.
  std::string mismatch(const std::string& cache, std::string* field = nullptr) {
    try {
      check_same_cache(manifest_, dir_.file("a.faiss"), store::CacheReader::open(cache));
    } catch (const InputError& e) {
      if (field) *field = e.field();
      return e.what();
    }
    return "";
  }
  testing::TempDir dir_{"same_cache"};
  std::unique_ptr<comm::Communicator> comm_;
  Manifest manifest_;
};

TEST_F(SameCache, ItsOwnCacheAndAnIdenticalCopyPass) {
  EXPECT_EQ(mismatch(dir_.file("a.h5")), "");
  testing::write_test_cache(dir_.file("copy.h5"), {.rows = 100});  // same ids, values and provenance
  EXPECT_EQ(mismatch(dir_.file("copy.h5")), "");
  EXPECT_EQ(manifest_.cache_identity, cache_identity(store::CacheReader::open(dir_.file("copy.h5"))));
}

TEST_F(SameCache, AnotherCacheIsRefusedNamingTheMismatch) {
  struct Case {
    std::string name;
    testing::CacheSpec spec;
    std::string field;
  };
  testing::CacheSpec rows, model, ids, dim;
  rows.rows = 101;
  model.rows = ids.rows = dim.rows = 100;
  model.model_sha256 = std::string(64, 'b');
  ids.id_prefix = "other-";
  dim.dim = 9;
  const std::vector<Case> cases = {{"rows.h5", rows, "rows"},
                                   {"model.h5", model, "model_sha256"},
                                   {"ids.h5", ids, "ids"},
                                   {"dim.h5", dim, "features"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    testing::write_test_cache(dir_.file(c.name), c.spec);
    std::string field;
    const std::string what = mismatch(dir_.file(c.name), &field);
    EXPECT_EQ(field, c.field) << what;
    EXPECT_NE(what.find(dir_.file(c.name)), std::string::npos) << what;
    EXPECT_NE(what.find(dir_.file("a.faiss")), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace fathom::index
