#pragma once
// Progress with rate and ETA for long loops.
//
// Only the root rank prints (others keep counts so rate() works everywhere).
// On a terminal the line is redrawn in place at most every 0.2 s; otherwise a
// plain line is written every `period_s` seconds (SLURM logs stay readable).
// Output goes to stderr. Not thread-safe: advance from one thread.
#include <chrono>
#include <cstdint>
#include <string>

namespace fathom {

class Progress {
 public:
  // total <= 0 means unknown (no percentage/ETA, only count and rate).
  Progress(std::string label, std::int64_t total, std::string unit = "ex", double period_s = 10.0);
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

  // Overrides for tests: force plain mode and/or printing on every rank.
  static void set_force_plain(bool on);

 private:
  void maybe_print(bool force);
  std::string label_;
  std::int64_t total_;
  std::string unit_;
  double period_s_;
  std::int64_t done_ = 0;
  std::int64_t initial_ = 0;
  bool finished_ = false;
  bool tty_ = false;
  bool enabled_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_print_;
};

// "1h02m03s" / "4m05s" / "12.3s"
std::string format_duration(double seconds);

}  // namespace fathom
