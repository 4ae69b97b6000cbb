#pragma once
// Collective watchdog: one background thread per communicator that aborts the
// job when a single collective runs longer than the timeout. Arming and
// disarming are two atomic stores, so every collective can afford it.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace fathom::comm::detail {

class Watchdog {
 public:
  // on_timeout runs on the watchdog thread after the error is logged; it must
  // terminate the job (MPI_Abort) and not return.
  Watchdog(double timeout_s, int rank, std::function<void()> on_timeout);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // op must outlive the call (a string literal).
  void arm(const char* op) noexcept;
  void disarm() noexcept;

 private:
  void loop();

  const double timeout_s_;
  const std::int64_t timeout_ns_;
  const int rank_;
  std::function<void()> on_timeout_;
  std::atomic<const char*> op_{nullptr};
  std::atomic<std::int64_t> deadline_ns_{0};  // steady clock; 0 = no collective running
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

// Disarms on scope exit, also when the collective throws.
class ArmedScope {
 public:
  ArmedScope(Watchdog* w, const char* op) noexcept : w_(w) {
    if (w_) w_->arm(op);
  }
  ~ArmedScope() {
    if (w_) w_->disarm();
  }
  ArmedScope(const ArmedScope&) = delete;
  ArmedScope& operator=(const ArmedScope&) = delete;

 private:
  Watchdog* w_;
};

}  // namespace fathom::comm::detail
