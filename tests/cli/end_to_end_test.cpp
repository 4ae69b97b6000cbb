// The real binary, end to end: the README's main job in a temp directory,
// run twice (the second run must skip every step), plus exit codes.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

namespace {

struct Result {
  int code;
  std::string output;
};

Result run(const std::string& args) {
  std::string cmd = std::string(FATHOM_BINARY) + " " + args + " 2>&1";
  Result r{0, ""};
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return r;
}

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("fathom-e2e-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TEST(EndToEnd, DemoJobRunsThenResumes) {
  fs::path d = temp_dir("demo");
  std::string job = std::string(FATHOM_SOURCE_DIR) + "/jobs/demo.toml";
  Result first = run("run " + job + " --out " + (d / "out").string());
  ASSERT_EQ(first.code, 0) << first.output;
  EXPECT_NE(first.output.find("outputs in"), std::string::npos) << first.output;
  auto rec = nlohmann::json::parse(std::ifstream((d / "out" / "run.json").string()));
  for (auto& s : rec["steps"]) EXPECT_EQ(s["status"], "done") << s.dump();
  EXPECT_TRUE(fs::exists(d / "out" / "data" / "truth.json"));
  EXPECT_TRUE(fs::exists(d / "out" / "stats.json"));

  Result second = run("run " + job + " --out " + (d / "out").string());
  ASSERT_EQ(second.code, 0) << second.output;
  std::size_t skipped = 0;
  for (std::size_t p = second.output.find("skipped"); p != std::string::npos; p = second.output.find("skipped", p + 1))
    ++skipped;
  EXPECT_GE(skipped, rec["steps"].size()) << second.output;
  fs::remove_all(d);
}

TEST(EndToEnd, ExitCodes) {
  EXPECT_EQ(run("version").code, 0);
  EXPECT_EQ(run("--help").code, 0);
  EXPECT_EQ(run("no-such-command").code, 2);
  EXPECT_EQ(run("stats").code, 2);  // missing --corpus
  Result missing = run("stats --corpus /nonexistent/c.jsonl");
  EXPECT_EQ(missing.code, 2) << missing.output;
  EXPECT_NE(missing.output.find("/nonexistent/c.jsonl"), std::string::npos) << missing.output;
  Result reserved = run("influence");
  EXPECT_EQ(reserved.code, 1) << reserved.output;
  EXPECT_NE(reserved.output.find("not implemented"), std::string::npos) << reserved.output;
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
