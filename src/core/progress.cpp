#include "fathom/core/progress.h"

#include <unistd.h>

#include <chrono>
#include <cmath>

#include "fathom/core/log.h"

namespace fathom {
namespace {
bool g_force_plain = false;

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

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

std::string format_progress(const std::string& label, std::int64_t done, std::int64_t total, std::int64_t initial,
                            const std::string& unit, double elapsed_s) {
  const double rate = elapsed_s > 0 ? double(done - initial) / elapsed_s : 0.0;
  char rate_s[64];
  std::snprintf(rate_s, sizeof rate_s, "%.1f %s/s", rate, unit.c_str());
  char buf[512];
  if (total > 0) {
    const double pct = 100.0 * double(done) / double(total);
    const double eta = rate > 0 ? double(total - done) / rate : NAN;
    std::snprintf(buf, sizeof buf, "%s: %lld/%lld (%.1f%%) %s, elapsed %s, ETA %s", label.c_str(), (long long)done,
                  (long long)total, pct, rate_s, format_duration(elapsed_s).c_str(), format_duration(eta).c_str());
  } else {
    std::snprintf(buf, sizeof buf, "%s: %lld %s, %s, elapsed %s", label.c_str(), (long long)done, unit.c_str(), rate_s,
                  format_duration(elapsed_s).c_str());
  }
  return buf;
}

Progress::Progress(std::string label, std::int64_t total, std::string unit, double period_s)
    : Progress(std::move(label), total, std::move(unit), period_s, stderr, steady_seconds) {}

Progress::Progress(std::string label, std::int64_t total, std::string unit, double period_s, std::FILE* out,
                   ProgressClock clock)
    : label_(std::move(label)),
      total_(total),
      unit_(std::move(unit)),
      period_s_(period_s),
      out_(out),
      clock_(std::move(clock)) {
  start_s_ = last_print_s_ = clock_();
  enabled_ = log::is_root();
  tty_ = !g_force_plain && isatty(fileno(out_));
}

Progress::~Progress() {
  // A Progress destroyed by an exception does not print a misleading "done".
  if (enabled_ && tty_ && !finished_) std::fputc('\n', out_);
}

void Progress::set_initial(std::int64_t done) {
  initial_ = done;
  done_ = done;
}

double Progress::elapsed_s() const { return clock_() - start_s_; }

double Progress::rate() const {
  const double t = elapsed_s();
  return t > 0 ? double(done_ - initial_) / t : 0.0;
}

std::string Progress::line() const { return format_progress(label_, done_, total_, initial_, unit_, elapsed_s()); }

void Progress::advance(std::int64_t n) {
  done_ += n;
  maybe_print(false);
}

void Progress::maybe_print(bool force) {
  if (!enabled_) return;
  const double now = clock_();
  if (!force && now - last_print_s_ < (tty_ ? 0.2 : period_s_)) return;
  last_print_s_ = now;
  const std::string text = format_progress(label_, done_, total_, initial_, unit_, now - start_s_);
  if (tty_) {
    std::fprintf(out_, "\r\033[K%s", text.c_str());
    if (force) std::fputc('\n', out_);
  } else {
    std::fprintf(out_, "[progress] %s\n", text.c_str());
  }
  std::fflush(out_);
}

void Progress::finish() {
  if (finished_) return;
  maybe_print(true);
  finished_ = true;
}

}  // namespace fathom
