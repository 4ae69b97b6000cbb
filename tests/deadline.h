#pragma once
// Hard deadline for code that could hang (a chunking loop that never ends, a
// wait that is never woken): the code runs in a forked child, and the test
// fails, instead of hanging the suite, when the child has not finished in time.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

namespace fathom::testing {

// Success when fn() returns true in a child process that exits within
// `seconds`; failure (naming what happened) when fn returns false, the child
// crashes, or it is still running at the deadline (it is then killed).
// fn's side effects stay in the child: check results inside fn.
inline ::testing::AssertionResult finishes_within(double seconds, const std::function<bool()>& fn) {
  const pid_t pid = ::fork();
  if (pid < 0) return ::testing::AssertionFailure() << "fork failed";
  if (pid == 0) {
    bool ok = false;
    try {
      ok = fn();
    } catch (...) {
      ok = false;
    }
    ::_exit(ok ? 0 : 1);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return ::testing::AssertionFailure() << "did not finish within " << seconds << " s (killed)";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return ::testing::AssertionSuccess();
  if (WIFEXITED(status)) return ::testing::AssertionFailure() << "finished, but its checks failed (exit 1)";
  return ::testing::AssertionFailure() << "crashed with signal " << WTERMSIG(status);
}

}  // namespace fathom::testing
