#pragma once
// GoogleTest under mpirun, shared by the multi-rank test programs
// (tests/<module>/mpi/*_main.cpp): rank 0 prints as usual, the other ranks
// print only failed assertions tagged with their rank, and every rank exits
// non-zero when any rank failed.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>

#include "fathom/comm/communicator.h"

namespace fathom::testing {

class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (r.failed())
      std::fprintf(stderr, "[rank %d] %s:%d: %s\n", rank_, r.file_name() ? r.file_name() : "?", r.line_number(),
                   r.summary());
  }

 private:
  int rank_;
};

// Call after ::testing::InitGoogleTest.
inline void print_failures_only_off_root(const comm::Communicator& comm) {
  if (comm.rank() == 0) return;
  auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
  delete listeners.Release(listeners.default_result_printer());
  listeners.Append(new RankFailurePrinter(comm.rank()));
}

// COLLECTIVE. RUN_ALL_TESTS on every rank; true when any rank failed.
inline bool any_rank_failed(comm::Communicator& comm) {
  const std::int64_t failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  return comm.all_reduce_value(failed, comm::ReduceOp::max) != 0;
}

}  // namespace fathom::testing
