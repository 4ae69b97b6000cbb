// Job files and the runner, with a recording executor instead of real steps.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

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
  // Executor that "produces" the step's --out file and records calls: the
  // command name in calls_, the whole argv in argvs_, and the run.json on
  // disk at the moment the step runs in run_json_seen_.
  fathom::cli::StepExecutor recorder() {
    return [this](const std::vector<std::string>& argv) {
      calls_.push_back(argv[0]);
      argvs_.push_back(argv);
      const fs::path run_json = dir_ / "out" / "run.json";
      run_json_seen_.push_back(fs::exists(run_json) ? nlohmann::json::parse(fathom::read_file(run_json.string()))
                                                    : nlohmann::json());
      for (std::size_t i = 0; i + 1 < argv.size(); ++i)
        if (argv[i] == "--out") std::ofstream(argv[i + 1]) << "output of " << argv[0];
      if (fail_on_ == argv[0]) throw fathom::InputError("x.jsonl", 3, "text", "empty text");
      return exit_code_;
    };
  }
  nlohmann::json run_json() const {
    return nlohmann::json::parse(fathom::read_file((dir_ / "out" / "run.json").string()));
  }
  std::vector<std::string> statuses() const {
    std::vector<std::string> out;
    const nlohmann::json record = run_json();
    for (auto& s : record["steps"]) out.push_back(s.value("status", ""));
    return out;
  }
  fs::path dir_;
  std::unique_ptr<fathom::comm::Communicator> comm_;
  std::vector<std::string> calls_;
  std::vector<std::vector<std::string>> argvs_;
  std::vector<nlohmann::json> run_json_seen_;
  std::string fail_on_;
  int exit_code_ = 0;
};

// argv after the command name as option -> value ("" for a bare flag).
std::map<std::string, std::string> options_of(const std::vector<std::string>& argv) {
  std::map<std::string, std::string> out;
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const bool has_value = i + 1 < argv.size() && argv[i + 1].rfind("--", 0) != 0;
    out[argv[i]] = has_value ? argv[i + 1] : "";
    if (has_value) ++i;
  }
  return out;
}

TEST_F(JobTest, ParsesStepsArgsAndPlaceholders) {
  Job job = fathom::cli::load_job(write("j.toml", job_text()), "", {"synth", "stats"});
  ASSERT_EQ(job.steps.size(), 2u);
  EXPECT_EQ(job.seed, 5u);
  EXPECT_EQ(job.name, "t");
  EXPECT_EQ(job.out_dir, (dir_ / "out").string());
  // {seed} and {out} substituted; true -> bare flag; false -> omitted.
  const std::map<std::string, std::string> want = {
      {"--n", "10"}, {"--seed", "5"}, {"--out", (dir_ / "out" / "a.txt").string()}, {"--flag", ""}};
  const auto& a = job.steps[0].argv;
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a[0], "synth");
  EXPECT_EQ(a.size(), 1 + 2 * 3 + 1u) << "an option too many or too few";
  EXPECT_EQ(options_of(a), want);
  EXPECT_EQ(job.steps[1].argv, (std::vector<std::string>{"stats", "--out", (dir_ / "out" / "b.txt").string()}));
  EXPECT_EQ(job.steps[0].outputs, std::vector<std::string>{(dir_ / "out" / "a.txt").string()});
  EXPECT_EQ(job.steps[0].line, 6);
  EXPECT_EQ(job.steps[1].line, 16);
  EXPECT_NE(job.steps[0].hash, job.steps[1].hash);

  // --out DIR replaces [job].out everywhere {out} appears.
  Job moved = fathom::cli::load_job(write("j.toml", job_text()), (dir_ / "elsewhere").string(), {"synth", "stats"});
  EXPECT_EQ(options_of(moved.steps[0].argv).at("--out"), (dir_ / "elsewhere" / "a.txt").string());
}

// The runner hands the executor exactly the command load_job built.
TEST_F(JobTest, RunnerExecutesTheBuiltCommand) {
  Job job = fathom::cli::load_job(write("j.toml", job_text()), "", {"synth", "stats"});
  fathom::cli::run_job(job, {}, *comm_, recorder());
  ASSERT_EQ(argvs_.size(), 2u);
  EXPECT_EQ(argvs_[0], job.steps[0].argv);
  EXPECT_EQ(argvs_[1], job.steps[1].argv);
  EXPECT_EQ(argvs_[0][0], "synth");
  EXPECT_EQ(options_of(argvs_[0]),
            (std::map<std::string, std::string>{
                {"--n", "10"}, {"--seed", "5"}, {"--out", (dir_ / "out" / "a.txt").string()}, {"--flag", ""}}));
}

TEST_F(JobTest, ErrorsNameFileLineAndField) {
  auto expect_error = [&](const std::string& text, const std::string& needle,
                          const std::vector<std::string>& commands = {"synth", "stats"}) {
    std::string p = write("bad.toml", text);
    try {
      fathom::cli::load_job(p, "", commands);
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
  expect_error("[job]\nout = \"o\"\n[[step]]\ncommand=\"synth\"\ntypo = 1\n", "bad.toml:5: field 'step[1].typo': unknown key");
  expect_error("[job]\nout = \"o\"\ncolour = 1\n[[step]]\ncommand=\"synth\"\n", "bad.toml:3: field 'job.colour': unknown key");
  expect_error("[job]\nout = \"o\"\nranks = -1\n[[step]]\ncommand=\"synth\"\n", "bad.toml:3: field 'job.ranks'");
  expect_error("[job]\nout = \"o\"\n[[step]]\ncommand=\"synth\"\noutputs = \"x\"\n", "field 'step[1].outputs'");
  expect_error("[job]\nname = \"n\"\n[[step]]\ncommand=\"synth\"\n", "field 'job.out': missing");
  expect_error("[job]\nout = \"o\"\n[[step]]\ncommand=\"run\"\n", "a job cannot run another job",
               {"synth", "stats", "run"});
}

TEST_F(JobTest, ResumesSkipsCompletedAndRerunsChanged) {
  std::string p = write("j.toml", job_text());
  Job job = fathom::cli::load_job(p, "", {"synth", "stats"});
  fathom::cli::run_job(job, {}, *comm_, recorder());
  EXPECT_EQ(calls_, (std::vector<std::string>{"synth", "stats"}));
  calls_.clear();
  EXPECT_EQ(statuses(), (std::vector<std::string>{"done", "done"}));
  auto r = fathom::cli::run_job(job, {}, *comm_, recorder());
  EXPECT_TRUE(calls_.empty());
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].status, "skipped");
  EXPECT_EQ(r[1].status, "skipped");
  EXPECT_EQ(statuses(), (std::vector<std::string>{"skipped", "skipped"}));
  // A step skipped once is still complete the next time.
  fathom::cli::run_job(job, {}, *comm_, recorder());
  EXPECT_TRUE(calls_.empty());
  // A damaged output (size changed) re-runs that step and the ones after it.
  std::ofstream((dir_ / "out" / "a.txt").string()) << "x";
  fathom::cli::run_job(job, {}, *comm_, recorder());
  EXPECT_EQ(calls_, (std::vector<std::string>{"synth", "stats"}));
  calls_.clear();
  fathom::cli::run_job(job, RunOptions{false, "b", false}, *comm_, recorder());
  EXPECT_EQ(calls_, (std::vector<std::string>{"stats"}));
  EXPECT_EQ(statuses(), (std::vector<std::string>{"skipped", "done"}));
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
  EXPECT_NE(run["steps"][1].value("error", "").find("empty text"), std::string::npos) << run.dump(2);
  EXPECT_TRUE(run.contains("finished")) << run.dump(2);
  // The next run resumes at the failed step.
  fail_on_.clear();
  calls_.clear();
  fathom::cli::run_job(job, {}, *comm_, recorder());
  EXPECT_EQ(calls_, (std::vector<std::string>{"stats"}));
}

// run.json never claims a step done before it is: while a step runs, the
// file shows it pending and the steps before it done with their outputs.
TEST_F(JobTest, RunJsonWhileAStepRuns) {
  Job job = fathom::cli::load_job(write("j.toml", job_text()), "", {"synth", "stats"});
  fathom::cli::run_job(job, {}, *comm_, recorder());
  run_json_seen_.clear();
  fathom::cli::run_job(job, RunOptions{true, "", false}, *comm_, recorder());  // --force over a complete run
  ASSERT_EQ(run_json_seen_.size(), 2u);
  const auto& during_a = run_json_seen_[0]["steps"];
  EXPECT_EQ(during_a[0]["status"], "pending") << during_a.dump(2);
  EXPECT_EQ(during_a[1]["status"], "pending") << during_a.dump(2);
  EXPECT_FALSE(run_json_seen_[0].contains("finished"));
  const auto& during_b = run_json_seen_[1]["steps"];
  EXPECT_EQ(during_b[0]["status"], "done") << during_b.dump(2);
  EXPECT_EQ(during_b[0]["outputs"][0]["bytes"], std::int64_t(fs::file_size(dir_ / "out" / "a.txt")));
  EXPECT_EQ(during_b[1]["status"], "pending") << during_b.dump(2);
  EXPECT_TRUE(run_json().contains("finished"));
}

TEST_F(JobTest, DryRunExecutesAndWritesNothing) {
  Job job = fathom::cli::load_job(write("j.toml", job_text()), "", {"synth", "stats"});
  auto r = fathom::cli::run_job(job, RunOptions{false, "", true}, *comm_, recorder());
  EXPECT_TRUE(r.empty());
  EXPECT_TRUE(calls_.empty());
  EXPECT_FALSE(fs::exists(dir_ / "out"));
}

// A step that returns a non-zero code fails the job with the matching kind.
TEST_F(JobTest, NonZeroStepCodeFailsTheJob) {
  Job job = fathom::cli::load_job(write("j.toml", job_text()), "", {"synth", "stats"});
  for (int code : {1, 2}) {
    exit_code_ = code;
    try {
      fathom::cli::run_job(job, RunOptions{true, "", false}, *comm_, recorder());
      ADD_FAILURE() << "no throw for exit code " << code;
    } catch (const std::exception& e) {
      EXPECT_EQ(fathom::exit_code_for(e), code) << fathom::describe(e);
      EXPECT_NE(fathom::describe(e).find("exited with code " + std::to_string(code)), std::string::npos);
    }
    EXPECT_EQ(statuses(), (std::vector<std::string>{"failed", "pending"}));
  }
}

TEST_F(JobTest, UnknownFromStepIsAUsageError) {
  Job job = fathom::cli::load_job(write("j.toml", job_text()), "", {"synth", "stats"});
  EXPECT_THROW(fathom::cli::run_job(job, RunOptions{false, "zzz", false}, *comm_, recorder()), fathom::UsageError);
}

}  // namespace

namespace {

// [job.vars] are substituted in args, outputs and [job].out; --set replaces
// one; a changed variable changes the hashes (so the step re-runs).
TEST_F(JobTest, VarsAndSetOverrides) {
  const std::string text = "[job]\nout = \"" + (dir_ / "out-{n}").string() +
                           "\"\n[job.vars]\nn = 100\nrate = 0.5\nname = \"x\"\n\n[[step]]\ncommand = \"synth\"\n"
                           "outputs = [\"{out}/{name}.txt\"]\n[step.args]\nn = \"{n}\"\nflip = \"{rate}\"\nout = "
                           "\"{out}/{name}.txt\"\n";
  const std::string p = write("v.toml", text);
  Job job = fathom::cli::load_job(p, "", {"synth"});
  EXPECT_EQ(job.out_dir, (dir_ / "out-100").string());
  EXPECT_EQ(job.vars.at("n"), "100");
  EXPECT_EQ(job.vars.at("rate"), "0.5");
  EXPECT_EQ(options_of(job.steps[0].argv),
            (std::map<std::string, std::string>{
                {"--n", "100"}, {"--flip", "0.5"}, {"--out", (dir_ / "out-100" / "x.txt").string()}}));
  EXPECT_EQ(job.steps[0].outputs, std::vector<std::string>{(dir_ / "out-100" / "x.txt").string()});

  Job set = fathom::cli::load_job(p, "", {"synth"}, {"n=7", "name=y=z"});
  EXPECT_EQ(set.out_dir, (dir_ / "out-7").string());
  EXPECT_EQ(options_of(set.steps[0].argv).at("--n"), "7");
  EXPECT_EQ(options_of(set.steps[0].argv).at("--out"), (dir_ / "out-7" / "y=z.txt").string());
  EXPECT_NE(set.steps[0].hash, job.steps[0].hash);

  auto usage_error = [&](const std::vector<std::string>& sets, const std::string& needle) {
    try {
      fathom::cli::load_job(p, "", {"synth"}, sets);
      ADD_FAILURE() << "no error for --set " << sets[0];
    } catch (const fathom::UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  usage_error({"m=3"}, "no [job.vars] entry 'm' (it has: n, name, rate)");
  usage_error({"n"}, "expected name=value");
  usage_error({"=3"}, "expected name=value");

  auto input_error = [&](const std::string& vars, const std::string& needle) {
    const std::string bad = write("bad.toml", "[job]\nout = \"o\"\n" + vars + "\n[[step]]\ncommand = \"synth\"\n");
    try {
      fathom::cli::load_job(bad, "", {"synth"});
      ADD_FAILURE() << "no error for " << vars;
    } catch (const fathom::InputError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  input_error("[job.vars]\nout = \"x\"", "job.vars.out");
  input_error("[job.vars]\nflag = true", "expected a string or a number");
  input_error("vars = 3", "expected a table");
}

// run.json records each step's peak resident memory, measured from the
// step's start: a step that touches 64 MiB more than the others shows it.
TEST_F(JobTest, RecordsPeakMemoryPerStep) {
  Job job = fathom::cli::load_job(write("j.toml", job_text()), "", {"synth", "stats"});
  constexpr std::size_t kBig = std::size_t(64) << 20;
  auto inner = recorder();
  auto reports = fathom::cli::run_job(job, {}, *comm_, [&](const std::vector<std::string>& argv) {
    if (argv[0] == "synth") {
      std::vector<char> touched(kBig);
      for (std::size_t i = 0; i < touched.size(); i += 4096) touched[i] = char(i);
      volatile char sink = touched[kBig / 2];
      (void)sink;
    }
    return inner(argv);
  });
  const auto record = run_json();
  const auto& a = record["steps"][0];
  const auto& b = record["steps"][1];
  ASSERT_TRUE(a.contains("peak_rss_bytes")) << record.dump(2);
  ASSERT_EQ(a["peak_rss_scope"], b["peak_rss_scope"]);
  EXPECT_EQ(a["peak_rss_bytes"].get<std::int64_t>(), reports[0].peak_rss_bytes);
  EXPECT_EQ(a["peak_rss_bytes_all_ranks"], a["peak_rss_bytes"]) << "one rank: the sum is the largest";
  EXPECT_GE(a["peak_rss_bytes"].get<std::int64_t>(), std::int64_t(kBig));
  if (a["peak_rss_scope"] == "step") {
    // The second step starts after the buffer was freed: its peak is lower.
    EXPECT_LT(b["peak_rss_bytes"].get<std::int64_t>() + std::int64_t(kBig / 2), a["peak_rss_bytes"].get<std::int64_t>());
  } else {
    GTEST_LOG_(INFO) << "peak cannot be reset here (/proc/self/clear_refs): process-wide peaks";
  }
}

}  // namespace
