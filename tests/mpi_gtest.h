#pragma once
// GoogleTest under mpirun, shared by the multi-rank test programs
// (tests/<module>/mpi/*_main.cpp): rank 0 prints as usual, the other ranks
// print only failed assertions tagged with their rank, and every rank exits
// non-zero when any rank failed.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <unistd.h>

#include "fathom/comm/communicator.h"
#include "fathom/core/log.h"

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

// The start of every multi-rank test program: the "mpi" communicator, logs at
// warn with the rank, GoogleTest initialised, and output as described above.
inline std::unique_ptr<comm::Communicator> start_mpi_gtest(int* argc, char** argv) {
  auto comm = comm::make_communicator("mpi");
  log::init(comm->rank(), comm->size(), "warn");
  ::testing::InitGoogleTest(argc, argv);
  print_failures_only_off_root(*comm);
  return comm;
}

// COLLECTIVE. RUN_ALL_TESTS on every rank; true when any rank failed.
inline bool any_rank_failed(comm::Communicator& comm) {
  const std::int64_t failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  return comm.all_reduce_value(failed, comm::ReduceOp::max) != 0;
}

// COLLECTIVE. true on every rank iff `on_root` is true on rank 0 (checks that
// only rank 0 can make, such as comparing its output with a 1-rank run).
inline bool agreed(comm::Communicator& comm, bool on_root) {
  std::int64_t v = on_root ? 1 : 0;
  comm.broadcast(&v, 1, comm::DType::i64, 0);
  return v != 0;
}

// COLLECTIVE. A scratch directory path chosen by rank 0 under the system temp
// dir (the test ranks run on one node, so every rank sees rank 0's files).
inline std::string root_temp_path(comm::Communicator& comm, const std::string& name) {
  std::string dir;
  if (comm.is_root())
    dir = (std::filesystem::temp_directory_path() / ("fathom-" + name + "-" + std::to_string(::getpid()))).string();
  comm.broadcast(dir, 0);
  return dir;
}

// COLLECTIVE. Runs the tests (any_rank_failed), then rank 0 removes `dir`
// (kept when FATHOM_KEEP_TEST_DIR is set) once no rank reads it any more.
// The program's exit code.
inline int finish_mpi_gtest(comm::Communicator& comm, const std::filesystem::path& dir) {
  const bool any_failed = any_rank_failed(comm);
  comm.barrier();
  if (comm.is_root() && !std::getenv("FATHOM_KEEP_TEST_DIR")) std::filesystem::remove_all(dir);
  return any_failed ? 1 : 0;
}

}  // namespace fathom::testing
