#include "watchdog.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

namespace fathom::comm::detail {
namespace {
std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Watchdog::Watchdog(double timeout_s, int rank, std::function<void()> on_timeout)
    : timeout_s_(timeout_s),
      timeout_ns_(std::int64_t(timeout_s * 1e9)),
      rank_(rank),
      on_timeout_(std::move(on_timeout)),
      thread_([this] { loop(); }) {}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Watchdog::arm(const char* op) noexcept {
  // op first: the thread reads the deadline, then the op it belongs to.
  op_.store(op, std::memory_order_relaxed);
  deadline_ns_.store(now_ns() + timeout_ns_, std::memory_order_release);
}

void Watchdog::disarm() noexcept { deadline_ns_.store(0, std::memory_order_release); }

void Watchdog::loop() {
  // Polling at a tenth of the timeout (10 ms .. 1 s) bounds the detection
  // delay without a wake-up per collective.
  const auto period = std::chrono::milliseconds(
      std::clamp<std::int64_t>(std::int64_t(timeout_s_ * 100), 10, 1000));
  std::unique_lock<std::mutex> lock(mutex_);
  while (!wake_.wait_for(lock, period, [this] { return stop_; })) {
    const std::int64_t deadline = deadline_ns_.load(std::memory_order_acquire);
    if (deadline == 0 || now_ns() < deadline) continue;
    const char* op = op_.load(std::memory_order_relaxed);
    // Re-check: the collective may have finished (and another started)
    // between the two loads; deadlines only grow, so equality means same call.
    if (deadline_ns_.load(std::memory_order_acquire) != deadline) continue;
    spdlog::error(
        "rank {}: collective '{}' did not finish within {:g} s (FATHOM_COLLECTIVE_TIMEOUT); "
        "another rank probably skipped it or died. Aborting the job.",
        rank_, op ? op : "?", timeout_s_);
    spdlog::default_logger()->flush();
    on_timeout_();
    std::_Exit(3);  // on_timeout must not return; never let a hung job live on.
  }
}

}  // namespace fathom::comm::detail
