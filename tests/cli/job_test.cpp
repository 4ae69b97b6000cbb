// Job files and the runner, with a recording executor instead of real steps.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "fathom/cli/job.h"
#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"

namespace fs = std::filesystem;
using fathom::cli::Job;
using fathom::cli::RunOptions;

namespace {

class JobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("fathom-job-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    comm_ = fathom::comm::make_communicator("local");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    auto p = (dir_ / name).string();
    std::ofstream(p) << text;
    return p;
  }
  std::string job_text() const {
    return "[job]\nname = \"t\"\nout = \"" + (dir_ / "out").string() +
           "\"\nseed = 5\n\n[[step]]\nname = \"a\"\ncommand = \"synth\"\n[step.args]\nn = 10\nseed = \"{seed}\"\nout = "
           "\"{out}/a.txt\"\nflag = true\noff = false\n\n[[step]]\nname = \"b\"\ncommand = \"stats\"\n[step.args]\nout = "
           "\"{out}/b.txt\"\n";
  }
  // Executor that "produces" the step's --out file and records calls.
  fathom::cli::StepExecutor recorder() {
    return [this](const std::vector<std::string>& argv) {
      calls_.push_back(argv[0]);
      for (std::size_t i = 0; i + 1 < argv.size(); ++i)
        if (argv[i] == "--out") std::ofstream(argv[i + 1]) << "output of " << argv[0];
      if (fail_on_ == argv[0]) throw fathom::InputError("x.jsonl", 3, "text", "empty text");
      return 0;
    };
  }
  fs::path dir_;
  std::unique_ptr<fathom::comm::Communicator> comm_;
  std::vector<std::string> calls_;
  std::string fail_on_;
};

TEST_F(JobTest, ParsesStepsArgsAndPlaceholders) {
  Job job = fathom::cli::load_job(write("j.toml", job_text()), "", {"synth", "stats"});
  ASSERT_EQ(job.steps.size(), 2u);
  EXPECT_EQ(job.seed, 5u);
  const auto& a = job.steps[0].argv;
  std::vector<std::string> want = {"synth", "--n", "10", "--seed", "5", "--out", (dir_ / "out" / "a.txt").string(), "--flag"};
  // toml++ keeps keys sorted; compare as sets of option/value pairs.
  EXPECT_EQ(a[0], "synth");
  EXPECT_NE(std::find(a.begin(), a.end(), "--flag"), a.end());
  EXPECT_EQ(std::find(a.begin(), a.end(), "--off"), a.end());
  auto seed = std::find(a.begin(), a.end(), "--seed");
  ASSERT_NE(seed, a.end());
  EXPECT_EQ(*(seed + 1), "5");
  EXPECT_EQ(job.steps[0].outputs, std::vector<std::string>{(dir_ / "out" / "a.txt").string()});
  EXPECT_NE(job.steps[0].hash, job.steps[1].hash);
}

TEST_F(JobTest, ErrorsNameFileLineAndField) {
  auto expect_error = [&](const std::string& text, const std::string& needle) {
    std::string p = write("bad.toml", text);
    try {
      fathom::cli::load_job(p, "", {"synth", "stats"});
      ADD_FAILURE() << "no error for: " << text;
    } catch (const fathom::InputError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("bad.toml"), std::string::npos) << e.what();
    }
  };
  expect_error("[job]\nout = \"o\"\n[[step]]\ncommand = \"nope\"\n", "bad.toml:3: field 'step[1].command': unknown command 'nope'");
  expect_error("[job]\nout = \"o\"\n", "no [[step]]");
  expect_error("[[step]]\ncommand = \"synth\"\n", "missing [job]");
  expect_error("[job]\nout = \"o\"\n[[step]]\nname=\"x\"\ncommand = \"synth\"\n[[step]]\nname=\"x\"\ncommand=\"stats\"\n",
               "duplicate step name 'x'");
  expect_error("[job]\nout = = 1\n", "TOML syntax error");
  expect_error("[job]\nout = \"o\"\nseed = \"x\"\n[[step]]\ncommand=\"synth\"\n", "field 'job.seed'");
  expect_error("[job]\nout = \"o\"\n[[step]]\ncommand=\"synth\"\ntypo = 1\n", "unknown key");
}

TEST_F(JobTest, ResumesSkipsCompletedAndRerunsChanged) {
  std::string p = write("j.toml", job_text());
  Job job = fathom::cli::load_job(p, "", {"synth", "stats"});
  fathom::cli::run_job(job, {}, *comm_, recorder());
  EXPECT_EQ(calls_, (std::vector<std::string>{"synth", "stats"}));
  calls_.clear();
  auto r = fathom::cli::run_job(job, {}, *comm_, recorder());
  EXPECT_TRUE(calls_.empty());
  EXPECT_EQ(r[0].status, "skipped");
  // A damaged output (size changed) re-runs that step and the ones after it.
  std::ofstream((dir_ / "out" / "a.txt").string()) << "x";
  fathom::cli::run_job(job, {}, *comm_, recorder());
  EXPECT_EQ(calls_, (std::vector<std::string>{"synth", "stats"}));
  calls_.clear();
  fathom::cli::run_job(job, RunOptions{false, "b", false}, *comm_, recorder());
  EXPECT_EQ(calls_, (std::vector<std::string>{"stats"}));
  calls_.clear();
  fathom::cli::run_job(job, RunOptions{true, "", false}, *comm_, recorder());
  EXPECT_EQ(calls_, (std::vector<std::string>{"synth", "stats"}));
  // Changing a step's arguments re-runs it.
  calls_.clear();
  std::string changed = job_text();
  changed.replace(changed.find("n = 10"), 6, "n = 11");
  Job job2 = fathom::cli::load_job(write("j.toml", changed), "", {"synth", "stats"});
  fathom::cli::run_job(job2, {}, *comm_, recorder());
  EXPECT_EQ(calls_, (std::vector<std::string>{"synth", "stats"}));
}

TEST_F(JobTest, FailingStepKeepsEarlierOutputsAndSaysWhich) {
  Job job = fathom::cli::load_job(write("j.toml", job_text()), "", {"synth", "stats"});
  fail_on_ = "stats";
  try {
    fathom::cli::run_job(job, {}, *comm_, recorder());
    FAIL() << "no throw";
  } catch (const std::exception& e) {
    std::string d = fathom::describe(e);
    EXPECT_NE(d.find("step 'b' (2/2) failed"), std::string::npos) << d;
    EXPECT_NE(d.find("x.jsonl:3: field 'text': empty text"), std::string::npos) << d;
    EXPECT_EQ(fathom::exit_code_for(e), 2);
  }
  EXPECT_TRUE(fs::exists(dir_ / "out" / "a.txt"));
  auto run = nlohmann::json::parse(fathom::read_file((dir_ / "out" / "run.json").string()));
  EXPECT_EQ(run["steps"][0]["status"], "done");
  EXPECT_EQ(run["steps"][1]["status"], "failed");
  // The next run resumes at the failed step.
  fail_on_.clear();
  calls_.clear();
  fathom::cli::run_job(job, {}, *comm_, recorder());
  EXPECT_EQ(calls_, (std::vector<std::string>{"stats"}));
}

TEST_F(JobTest, UnknownFromStepIsAUsageError) {
  Job job = fathom::cli::load_job(write("j.toml", job_text()), "", {"synth", "stats"});
  EXPECT_THROW(fathom::cli::run_job(job, RunOptions{false, "zzz", false}, *comm_, recorder()), fathom::UsageError);
}

}  // namespace
