#include "fathom/core/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

#include "fathom/core/log.h"

namespace fathom {
namespace {
bool g_force_plain = false;
}

void Progress::set_force_plain(bool on) { g_force_plain = on; }

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char buf[64];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.1fs", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%dh%02dm%02ds", int(s) / 3600, (int(s) / 60) % 60, int(s) % 60);
  }
  return buf;
}

Progress::Progress(std::string label, std::int64_t total, std::string unit, double period_s)
    : label_(std::move(label)), total_(total), unit_(std::move(unit)), period_s_(period_s) {
  start_ = last_print_ = std::chrono::steady_clock::now();
  enabled_ = log::is_root();
  tty_ = !g_force_plain && isatty(STDERR_FILENO);
}

Progress::~Progress() {
  // A Progress destroyed by an exception does not print a misleading "done".
  if (enabled_ && tty_ && !finished_) std::fputc('\n', stderr);
}

void Progress::set_initial(std::int64_t done) {
  initial_ = done;
  done_ = done;
}

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double Progress::rate() const {
  double t = elapsed_s();
  return t > 0 ? double(done_ - initial_) / t : 0.0;
}

std::string Progress::line() const {
  char buf[256];
  double r = rate();
  std::string rate_s;
  {
    char rb[64];
    std::snprintf(rb, sizeof rb, "%.1f %s/s", r, unit_.c_str());
    rate_s = rb;
  }
  if (total_ > 0) {
    double pct = 100.0 * double(done_) / double(total_);
    double eta = r > 0 ? double(total_ - done_) / r : NAN;
    std::snprintf(buf, sizeof buf, "%s: %lld/%lld (%.1f%%) %s, elapsed %s, ETA %s", label_.c_str(),
                  (long long)done_, (long long)total_, pct, rate_s.c_str(), format_duration(elapsed_s()).c_str(),
                  format_duration(eta).c_str());
  } else {
    std::snprintf(buf, sizeof buf, "%s: %lld %s, %s, elapsed %s", label_.c_str(), (long long)done_, unit_.c_str(),
                  rate_s.c_str(), format_duration(elapsed_s()).c_str());
  }
  return buf;
}

void Progress::advance(std::int64_t n) {
  done_ += n;
  maybe_print(false);
}

void Progress::maybe_print(bool force) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_print_).count();
  if (!force && since < (tty_ ? 0.2 : period_s_)) return;
  last_print_ = now;
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s", line().c_str());
    if (force) std::fputc('\n', stderr);
  } else {
    std::fprintf(stderr, "[progress] %s\n", line().c_str());
  }
  std::fflush(stderr);
}

void Progress::finish() {
  if (finished_) return;
  maybe_print(true);
  finished_ = true;
}

}  // namespace fathom
