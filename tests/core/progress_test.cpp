// Progress text and plain-mode printing, on a fake clock and a temporary
// file, so the exact text is checked.
#include "fathom/core/progress.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

namespace {

using fathom::format_duration;
using fathom::format_progress;

TEST(ProgressText, RateAndEta) {
  EXPECT_EQ(format_progress("cache", 500, 1000, 0, "rows", 5.0),
            "cache: 500/1000 (50.0%) 100.0 rows/s, elapsed 5.0s, ETA 5.0s");
  EXPECT_EQ(format_progress("train", 1, 3, 0, "ex", 2.0), "train: 1/3 (33.3%) 0.5 ex/s, elapsed 2.0s, ETA 4.0s");
  // 90 left at 0.5/s = 180 s.
  EXPECT_EQ(format_progress("train", 10, 100, 0, "ex", 20.0),
            "train: 10/100 (10.0%) 0.5 ex/s, elapsed 20.0s, ETA 3m00s");
}

TEST(ProgressText, ResumedCountsAreShownButNotInTheRate) {
  // 600 done, 100 of them before the resume: 500 in 5 s = 100/s, 400 left.
  EXPECT_EQ(format_progress("cache", 600, 1000, 100, "ex", 5.0),
            "cache: 600/1000 (60.0%) 100.0 ex/s, elapsed 5.0s, ETA 4.0s");
}

TEST(ProgressText, NoRateYetMeansUnknownEta) {
  EXPECT_EQ(format_progress("synth", 0, 10, 0, "ex", 0.0), "synth: 0/10 (0.0%) 0.0 ex/s, elapsed 0.0s, ETA ?");
  EXPECT_EQ(format_progress("synth", 5, 10, 5, "ex", 3.0), "synth: 5/10 (50.0%) 0.0 ex/s, elapsed 3.0s, ETA ?");
}

TEST(ProgressText, UnknownTotalShowsCountAndRateOnly) {
  EXPECT_EQ(format_progress("stats", 250, 0, 0, "ex", 10.0), "stats: 250 ex, 25.0 ex/s, elapsed 10.0s");
  EXPECT_EQ(format_progress("stats", 250, -1, 0, "ex", 10.0), "stats: 250 ex, 25.0 ex/s, elapsed 10.0s");
}

TEST(ProgressText, Durations) {
  EXPECT_EQ(format_duration(0), "0.0s");
  EXPECT_EQ(format_duration(12.34), "12.3s");
  EXPECT_EQ(format_duration(59.9), "59.9s");
  EXPECT_EQ(format_duration(60), "1m00s");
  EXPECT_EQ(format_duration(245), "4m05s");
  EXPECT_EQ(format_duration(3599), "59m59s");
  EXPECT_EQ(format_duration(3723), "1h02m03s");
  EXPECT_EQ(format_duration(-1), "?");
  EXPECT_EQ(format_duration(NAN), "?");
  EXPECT_EQ(format_duration(INFINITY), "?");
}

// A Progress writing to a temporary file (not a terminal) on a clock the
// test moves by hand.
class PlainProgress : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NE(out_, nullptr); }
  void TearDown() override {
    if (out_) std::fclose(out_);
  }
  std::string written() {
    std::fflush(out_);
    std::rewind(out_);
    std::string s;
    for (int c; (c = std::fgetc(out_)) != EOF;) s += char(c);
    std::fseek(out_, 0, SEEK_END);
    return s;
  }
  std::FILE* out_ = std::tmpfile();
  double now_ = 1000.0;  // an arbitrary origin: only differences count
  fathom::ProgressClock clock_ = [this] { return now_; };
};

TEST_F(PlainProgress, OneLinePerPeriodAndAFinalLine) {
  fathom::Progress p("cache", 100, "ex", 10.0, out_, clock_);
  now_ += 4;
  p.advance(10);  // 4 s < period: nothing yet
  EXPECT_EQ(written(), "");
  now_ += 6;
  p.advance(10);  // 10 s since the start: first line
  const std::string first = "[progress] cache: 20/100 (20.0%) 2.0 ex/s, elapsed 10.0s, ETA 40.0s\n";
  EXPECT_EQ(written(), first);
  now_ += 9.5;
  p.advance(30);  // 9.5 s since the last line: nothing
  EXPECT_EQ(written(), first);
  now_ += 0.5;
  p.advance(0);  // 10 s since the last line
  const std::string second = "[progress] cache: 50/100 (50.0%) 2.5 ex/s, elapsed 20.0s, ETA 20.0s\n";
  EXPECT_EQ(written(), first + second);
  now_ += 5;
  p.advance(50);
  p.finish();  // always prints, once
  p.finish();
  const std::string last = "[progress] cache: 100/100 (100.0%) 4.0 ex/s, elapsed 25.0s, ETA 0.0s\n";
  EXPECT_EQ(written(), first + second + last);
  EXPECT_EQ(p.line(), "cache: 100/100 (100.0%) 4.0 ex/s, elapsed 25.0s, ETA 0.0s");
  EXPECT_DOUBLE_EQ(p.elapsed_s(), 25.0);
  EXPECT_DOUBLE_EQ(p.rate(), 4.0);
}

TEST_F(PlainProgress, ResumeStartsTheRateFromTheInitialCount) {
  fathom::Progress p("cache", 1000, "ex", 10.0, out_, clock_);
  p.set_initial(400);
  now_ += 10;
  p.advance(100);
  EXPECT_EQ(written(), "[progress] cache: 500/1000 (50.0%) 10.0 ex/s, elapsed 10.0s, ETA 50.0s\n");
  EXPECT_EQ(p.done(), 500);
}

TEST_F(PlainProgress, DestroyedWithoutFinishPrintsNothingMore) {
  {
    fathom::Progress p("stats", 0, "ex", 10.0, out_, clock_);
    now_ += 1;
    p.advance(3);
  }
  EXPECT_EQ(written(), "");
}

}  // namespace
