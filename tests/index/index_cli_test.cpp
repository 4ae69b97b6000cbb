// `fathom index` as a user runs it, on a cache laid out like `fathom cache`'s:
// it builds and prints the manifest summary; bad requests exit 2 with the
// reason and write nothing; an existing output is refused and untouched.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/fathom_process.h"
#include "fathom/index/manifest.h"
#include "index/index_cache.h"

namespace fathom::index {
namespace {

namespace fs = std::filesystem;
using cli::testing::run_fathom;

std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

class IndexCli : public ::testing::Test {
 protected:
  void SetUp() override { testing::write_test_cache(cache_, {.rows = 300, .dim = 8}); }
  testing::TempDir dir_{"cli"};
  std::string cache_ = dir_.file("train-cache.h5");
  std::string out_ = dir_.file("train.faiss");
};

TEST_F(IndexCli, BuildsAndPrintsTheManifestSummary) {
  const auto r = run_fathom("index --cache " + cache_ + " --field features --spec IVF8,Flat --metric cosine --seed 4 --out " +
                            out_);
  ASSERT_EQ(r.code, 0) << r.output;
  for (const std::string says : {"rows:     300 x 8", "IVF8,Flat", "metric cosine", "nprobe 8", "trained:  300 rows (seed 4)",
                                 "shards:   1 file(s)", "train.faiss.shard-0-of-1: rows [0, 300)", "built in:"})
    EXPECT_NE(r.output.find(says), std::string::npos) << says << "\n" << r.output;
  const Manifest m = Manifest::load(out_);
  EXPECT_EQ(m.spec, "IVF8,Flat");
  EXPECT_EQ(m.metric, Metric::cosine);
  EXPECT_TRUE(m.normalized);
  EXPECT_EQ(m.seed, 4u);
  EXPECT_EQ(m.cache_path, cache_);
}

TEST_F(IndexCli, BadRequestsExitTwoWithTheReasonAndWriteNothing) {
  testing::write_test_cache(dir_.file("incomplete.h5"), {.rows = 300, .finalize = false});
  const auto before = files_in(dir_.path());
  struct Case {
    std::string args, says;
  };
  const std::vector<Case> cases = {
      {"--spec IVF8,Bogus", "rejected by FAISS"},
      {"--spec Flat --metric cos", "unknown metric 'cos'"},
      {"--spec Flat --field logits", "features or gradients"},
      {"--spec Flat --nprobe -1", "--nprobe"},
      {"--spec Flat --train-sample -5", "--train-sample"},
      {"--spec IVF1024,Flat", "Number of training points (300)"},
      {"--spec Flat --seed x", "seed"},
      {"--field features", "--spec is required"},
  };
  for (const Case& c : cases) {
    const auto r = run_fathom("index --cache " + cache_ + " " + c.args + " --out " + out_);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.says), std::string::npos) << c.args << "\n" << r.output;
  }
  const auto missing = run_fathom("index --cache " + dir_.file("none.h5") + " --spec Flat --out " + out_);
  EXPECT_EQ(missing.code, 2) << missing.output;
  EXPECT_NE(missing.output.find(dir_.file("none.h5")), std::string::npos) << missing.output;
  const auto incomplete = run_fathom("index --cache " + dir_.file("incomplete.h5") + " --spec Flat --out " + out_);
  EXPECT_EQ(incomplete.code, 2) << incomplete.output;
  EXPECT_NE(incomplete.output.find("incomplete"), std::string::npos) << incomplete.output;
  EXPECT_EQ(files_in(dir_.path()), before);
}

TEST_F(IndexCli, ExistingOutputIsRefusedUntouchedUnlessOverwrite) {
  ASSERT_EQ(run_fathom("index --cache " + cache_ + " --spec Flat --out " + out_).code, 0);
  std::ostringstream before;
  before << std::ifstream(out_).rdbuf();
  const auto again = run_fathom("index --cache " + cache_ + " --spec HNSW8 --out " + out_);
  EXPECT_EQ(again.code, 2) << again.output;
  EXPECT_NE(again.output.find("--overwrite"), std::string::npos) << again.output;
  std::ostringstream after;
  after << std::ifstream(out_).rdbuf();
  EXPECT_EQ(after.str(), before.str());
  const auto replaced = run_fathom("index --cache " + cache_ + " --spec HNSW8 --overwrite --out " + out_);
  EXPECT_EQ(replaced.code, 0) << replaced.output;
  EXPECT_EQ(Manifest::load(out_).spec, "HNSW8");
}

}  // namespace
}  // namespace fathom::index
