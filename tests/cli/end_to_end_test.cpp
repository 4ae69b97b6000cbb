// The real binary, end to end: the README's main job in a temp directory,
// run twice (the second run must skip every step), plus exit codes.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/fathom_process.h"

namespace fs = std::filesystem;

namespace {

using fathom::cli::testing::Result;
Result run(const std::string& args) { return fathom::cli::testing::run_fathom(args); }

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("fathom-e2e-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Bytes of a regular file, or -1: computed here, not by the runner's path_bytes.
std::int64_t file_bytes(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return -1;
  return std::int64_t(fs::file_size(path, ec));
}

// The outputs the demo job declares (jobs/demo.toml), under `out`.
std::map<std::string, std::vector<std::string>> demo_outputs(const fs::path& out) {
  auto at = [&](const char* rel) { return (out / rel).string(); };
  return {{"synth", {at("data/train.jsonl"), at("data/dev.jsonl"), at("data/test.jsonl"), at("data/truth.json")}},
          {"stats", {at("stats.json")}},
          {"train", {at("model/fathom.json"), at("model/weights.pt")}},
          {"predict", {at("test-predictions.jsonl")}},
          {"cache", {at("train-cache.h5")}},
          {"index", {at("features.faiss")}},
          {"knn", {at("knn.jsonl")}},
          {"representer", {at("representer.jsonl"), at("representer.jsonl.meta.json")}},
          {"influence", {at("influence.jsonl"), at("influence.jsonl.meta.json")}},
          {"influence-scores", {at("influence-all.jsonl"), at("influence-scores.h5")}},
          {"self-influence", {at("self-influence.jsonl")}},
          {"tracin", {at("tracin.jsonl"), at("tracin-scores.h5")}},
          {"lds", {at("lds.json")}},
          {"saliency", {at("saliency-ig.jsonl")}},
          {"triggers", {at("triggers.json")}},
          {"hotflip", {at("hotflip.jsonl"), at("hotflip.jsonl.meta.json")}},
          {"reduce", {at("reduce.jsonl"), at("reduce.jsonl.meta.json")}},
          {"mislabels", {at("suspects.jsonl")}},
          {"audit", {at("audit/report.json"), at("audit/report.html"), at("audit/tokens.tsv")}}};
}

// Every step of `record` has `status` and lists exactly the demo's outputs,
// each existing now with the recorded size.
void expect_steps(const nlohmann::json& record, const fs::path& out, const std::string& status) {
  const auto want = demo_outputs(out);
  ASSERT_EQ(record["steps"].size(), want.size()) << record.dump(2);
  for (const auto& step : record["steps"]) {
    const std::string name = step.value("name", "");
    EXPECT_EQ(step.value("status", ""), status) << step.dump(2);
    ASSERT_TRUE(want.count(name)) << "unexpected step " << name;
    ASSERT_TRUE(step.contains("outputs")) << step.dump(2);
    std::vector<std::string> paths;
    for (const auto& o : step["outputs"]) {
      const std::string path = o.value("path", "");
      paths.push_back(path);
      const std::int64_t bytes = file_bytes(path);
      EXPECT_GT(bytes, 0) << name << ": output " << path << " missing or empty";
      EXPECT_EQ(o.value("bytes", std::int64_t(-2)), bytes) << name << ": recorded size of " << path;
    }
    EXPECT_EQ(paths, want.at(name)) << name;
  }
}

nlohmann::json read_json(const fs::path& p) { return nlohmann::json::parse(std::ifstream(p.string())); }

TEST(EndToEnd, DemoJobRunsThenResumes) {
  fs::path d = temp_dir("demo");
  const fs::path out = d / "out";
  std::string job = std::string(FATHOM_SOURCE_DIR) + "/jobs/demo.toml";
  Result first = run("run " + job + " --out " + out.string());
  ASSERT_EQ(first.code, 0) << first.output;
  const nlohmann::json rec = read_json(out / "run.json");
  expect_steps(rec, out, "done");
  EXPECT_TRUE(rec.contains("finished")) << rec.dump(2);

  Result second = run("run " + job + " --out " + out.string());
  ASSERT_EQ(second.code, 0) << second.output;
  const nlohmann::json again = read_json(out / "run.json");
  expect_steps(again, out, "skipped");
  // A skipped step keeps the record of the run that made its outputs.
  for (std::size_t i = 0; i < rec["steps"].size(); ++i) {
    EXPECT_EQ(again["steps"][i]["outputs"], rec["steps"][i]["outputs"]) << i;
    EXPECT_EQ(again["steps"][i]["started"], rec["steps"][i]["started"]) << i;
    EXPECT_EQ(again["steps"][i]["hash"], rec["steps"][i]["hash"]) << i;
  }
  EXPECT_EQ(again["config_hash"], rec["config_hash"]);
  fs::remove_all(d);
}

TEST(EndToEnd, ExitCodes) {
  Result version = run("version");
  EXPECT_EQ(version.code, 0) << version.output;
  EXPECT_NE(version.output.find("faiss:     1."), std::string::npos)
      << version.output;
  Result help = run("--help");
  EXPECT_EQ(help.code, 0) << help.output;
  EXPECT_NE(help.output.find("3 collective timeout"), std::string::npos) << help.output;
  EXPECT_EQ(run("no-such-command").code, 2);
  EXPECT_EQ(run("stats").code, 2);  // missing --corpus
  Result missing = run("stats --corpus /nonexistent/c.jsonl");
  EXPECT_EQ(missing.code, 2) << missing.output;
  EXPECT_NE(missing.output.find("/nonexistent/c.jsonl"), std::string::npos) << missing.output;
}

TEST(EndToEnd, StatsReportsReaderErrorsWithLine) {
  fs::path d = temp_dir("stats");
  std::ofstream((d / "c.jsonl").string()) << "{\"id\":\"a\",\"text\":\"fine\",\"label\":\"x\"}\n{\"id\":\"b\",\"text\":\"\",\"label\":\"x\"}\n";
  Result r = run("stats --corpus " + (d / "c.jsonl").string());
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("c.jsonl:2"), std::string::npos) << r.output;
  Result skip = run("stats --on-error skip --json --corpus " + (d / "c.jsonl").string());
  EXPECT_EQ(skip.code, 0) << skip.output;
  EXPECT_NE(skip.output.find("skipped 1 bad record"), std::string::npos) << skip.output;
  fs::remove_all(d);
}

}  // namespace
