#include <gtest/gtest.h>

#include "fathom/comm/communicator.h"
#include "fathom/comm/failure.h"
#include "fathom/core/error.h"
#include "fathom/core/log.h"

using namespace fathom::comm;

TEST(commFailure, RunGuardedReturnsBodyCode) {
  EXPECT_EQ(run_guarded(nullptr, [] { return 0; }), 0);
  EXPECT_EQ(run_guarded(nullptr, [] { return 5; }), 5);
}

// One rank: fail_job logs the whole cause chain and exits with the error's code.
TEST(commFailureDeathTest, UsageErrorExitsTwoWithMessage) {
  fathom::log::init(0, 1);  // logs to stderr, where EXPECT_EXIT looks
  auto comm = make_communicator("local");
  EXPECT_EXIT(run_guarded(comm.get(), []() -> int { throw fathom::UsageError("bad flag --frobnicate"); }),
              ::testing::ExitedWithCode(2), "bad flag --frobnicate");
}

TEST(commFailureDeathTest, NestedInternalErrorExitsOne) {
  fathom::log::init(0, 1);
  EXPECT_EXIT(run_guarded(nullptr,
                          []() -> int {
                            return fathom::with_context("loading shard 3", []() -> int {
                              throw fathom::CommError("all_reduce", 1, "peer vanished");
                            });
                          }),
              ::testing::ExitedWithCode(1), "loading shard 3(.|\n)*caused by: rank 1: all_reduce failed");
}
