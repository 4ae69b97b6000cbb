// `fathom audit --cache C --index I`: the audit computes every row's kNN label
// disagreement itself (written to <out>/knn-suspects.jsonl) and ranks the
// cache's gold-label losses as a third mislabel source. Both are compared with
// a brute-force numpy computation over the cache (reference_crossrefs.py),
// and the planted flips must be found by both.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>

#include "cli/fathom_process.h"
#include "temp_dir.h"
#include "test_files.h"

namespace {

using fathom::cli::testing::run_fathom;
using fathom::testing::read_json;
using fathom::testing::read_jsonl;
using fathom::testing::TempDir;

bool have_h5py() {
  return std::system("/usr/bin/python3 -c 'import h5py, numpy' >/dev/null 2>&1") == 0;
}

std::string run_python(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[65536];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  ::pclose(p);
  return out;
}

class AuditCrossRefs : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("audit_crossrefs");
    const std::string d = *dir_ / "";
    for (const std::string& cmd : {
             "synth --task sentiment --n 2000 --seed 3 --artifact-rate 0.3 --flip-rate 0.1 --out " + d + "data",
             "train --corpus " + d + "data/train.jsonl --arch boe --epochs 6 --batch 32 --lr 0.01 --seed 3 --out " + d +
                 "model",
             "cache --model " + d + "model --corpus " + d + "data/train.jsonl --params classifier --out " + d + "c.h5",
             "index --cache " + d + "c.h5 --field features --spec Flat --out " + d + "f.faiss"}) {
      const auto r = run_fathom(cmd);
      ASSERT_EQ(r.code, 0) << cmd << "\n" << r.output;
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string at(const std::string& name) { return *dir_ / name; }
  static TempDir* dir_;
};
TempDir* AuditCrossRefs::dir_ = nullptr;

TEST_F(AuditCrossRefs, KnnAndLossEqualBruteForceAndFindTheFlips) {
  if (!have_h5py()) GTEST_SKIP() << "/usr/bin/python3 with h5py and numpy is not available";
  const auto r = run_fathom("audit --corpus " + at("data/train.jsonl") + " --cache " + at("c.h5") + " --index " +
                            at("f.faiss") + " --knn-k 7 --model " + at("model") + " --truth " + at("data/truth.json") +
                            " --suspects 30 --out " + at("audit"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto ref = nlohmann::json::parse(
      run_python("/usr/bin/python3 " FATHOM_SOURCE_DIR "/tests/audit/reference_crossrefs.py " + at("c.h5") + " 7"));
  ASSERT_EQ(ref.size(), 2000u) << "--n 2000 training rows, every one labelled";

  // knn-suspects.jsonl: one line per labelled row, disagreement as brute force.
  const auto knn = read_jsonl(at("audit/knn-suspects.jsonl"));
  ASSERT_EQ(knn.size(), ref.size());
  std::size_t mismatches = 0;
  for (const auto& row : knn) {
    const std::string id = row["id"];
    ASSERT_TRUE(ref.contains(id)) << id;
    if (std::abs(row["disagreement"].get<double>() - ref[id]["disagreement"].get<double>()) > 1e-12) ++mismatches;
  }
  // Float ties at the k-th neighbour may order differently: allow a handful.
  EXPECT_LE(mismatches, 3u);

  const auto rep = read_json(at("audit/report.json"));
  ASSERT_TRUE(rep["cross_references"].contains("knn")) << rep["cross_references"].dump(1);
  ASSERT_TRUE(rep["cross_references"].contains("loss"));
  EXPECT_EQ(rep["cross_references"]["loss"]["rows"], 2000);
  // Every listed suspect's loss and its rank among the losses, recomputed.
  std::vector<double> all_losses;
  for (auto& [id, v] : ref.items()) all_losses.push_back(v["loss"].get<double>());
  ASSERT_EQ(rep["mislabels"].size(), 30u);
  for (const auto& m : rep["mislabels"]) {
    const std::string id = m["id"];
    ASSERT_TRUE(m.contains("loss")) << m.dump();
    const double loss = ref[id]["loss"].get<double>();
    EXPECT_NEAR(m["loss"]["loss"].get<double>(), loss, 1e-6 * (1 + std::abs(loss))) << id;
    std::int64_t higher = 0;
    for (double l : all_losses) higher += l > float(loss) ? 1 : 0;
    EXPECT_EQ(m["loss"]["rank"].get<std::int64_t>(), 1 + higher) << id;
  }
  // The planted flips (10 %) rank high in both (chance: AUC 0.5, 3 of 30 listed).
  const auto& f = rep["planted"]["flipped"];
  EXPECT_GT(f["loss"]["roc_auc"].get<double>(), 0.7) << f.dump(1);
  EXPECT_GT(f["knn"]["roc_auc"].get<double>(), 0.7) << f.dump(1);
  EXPECT_GE(f["flipped_among_listed"].get<int>(), 10) << f.dump(1);
  const std::string html = fathom::testing::slurp(at("audit/report.html"));
  EXPECT_NE(html.find("training loss"), std::string::npos) << "loss evidence in the suspects table";
}

TEST_F(AuditCrossRefs, BadCombinationsExitTwo) {
  // --index and --knn-suspects together.
  std::ofstream(at("k.jsonl")) << "{\"id\":\"x\",\"disagreement\":1}\n";
  auto r = run_fathom("audit --corpus " + at("data/train.jsonl") + " --index " + at("f.faiss") + " --knn-suspects " +
                      at("k.jsonl") + " --out " + at("bad1"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("not both"), std::string::npos) << r.output;
  // A cache whose losses are at the predicted labels.
  r = run_fathom("cache --model " + at("model") + " --corpus " + at("data/train.jsonl") +
                 " --params classifier --target predicted --out " + at("pred.h5"));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_fathom("audit --corpus " + at("data/train.jsonl") + " --cache " + at("pred.h5") + " --out " + at("bad2"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--target gold"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("pred.h5"), std::string::npos) << r.output;
  // A missing cache.
  r = run_fathom("audit --corpus " + at("data/train.jsonl") + " --cache " + at("nope.h5") + " --out " + at("bad3"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("nope.h5"), std::string::npos) << r.output;
  // --knn-k 0.
  r = run_fathom("audit --corpus " + at("data/train.jsonl") + " --index " + at("f.faiss") + " --knn-k 0 --out " +
                 at("bad4"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--knn-k"), std::string::npos) << r.output;
}

}  // namespace
