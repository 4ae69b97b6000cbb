#pragma once
// Progress with rate and ETA for long loops.
//
// Only the root rank prints (others keep counts so rate() works everywhere).
// On a terminal the line is redrawn in place at most every 0.2 s; otherwise a
// plain line "[progress] <line>\n" is written at most every `period_s`
// seconds (SLURM logs stay readable), and finish() writes the last one.
// Output goes to stderr unless a test passes its own stream and clock.
// Not thread-safe: advance from one thread.
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

namespace fathom {

// Seconds on a monotonic clock (only differences matter).
using ProgressClock = std::function<double()>;

class Progress {
 public:
  // total <= 0 means unknown (no percentage/ETA, only count and rate).
  Progress(std::string label, std::int64_t total, std::string unit = "ex", double period_s = 10.0);
  // Same, writing to `out` (not owned; a terminal only if isatty says so)
  // and reading time from `clock`: the seam the tests use.
  Progress(std::string label, std::int64_t total, std::string unit, double period_s, std::FILE* out,
           ProgressClock clock);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void advance(std::int64_t n = 1);
  // Counts done before a resume: shown in the count but excluded from the rate.
  void set_initial(std::int64_t done);
  void finish();  // prints the final line (idempotent)

  std::int64_t done() const { return done_; }
  double elapsed_s() const;
  double rate() const;  // units per second since construction (excluding initial)
  std::string line() const;  // the current status line (for tests / logs)

  // Overrides for tests: force plain mode even on a terminal.
  static void set_force_plain(bool on);

 private:
  void maybe_print(bool force);
  std::string label_;
  std::int64_t total_;
  std::string unit_;
  double period_s_;
  std::FILE* out_;
  ProgressClock clock_;
  std::int64_t done_ = 0;
  std::int64_t initial_ = 0;
  bool finished_ = false;
  bool tty_ = false;
  bool enabled_ = false;
  double start_s_ = 0;
  double last_print_s_ = 0;
};

// The status line for `done` of `total` units after `elapsed_s` seconds, of
// which `initial` were done before (a resume) and do not count in the rate:
//   "<label>: <done>/<total> (<pct>%) <rate> <unit>/s, elapsed <t>, ETA <t>"
//   "<label>: <done> <unit>, <rate> <unit>/s, elapsed <t>"   (total <= 0)
// pct and rate with one decimal; durations as format_duration; ETA "?" while
// the rate is 0.
std::string format_progress(const std::string& label, std::int64_t done, std::int64_t total, std::int64_t initial,
                            const std::string& unit, double elapsed_s);

// "1h02m03s" / "4m05s" / "12.3s"; "?" for negative or non-finite input.
std::string format_duration(double seconds);

}  // namespace fathom
