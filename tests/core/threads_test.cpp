// The thread policy on explicit numbers (the real-binding check is the
// core_mpi_threads_* ctest entries, which need mpirun).
#include "fathom/core/threads.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <stdlib.h>

#include <string>

namespace {

TEST(Threads, BoundRankUsesExactlyItsBoundCores) {
  // 64-core node, 4 ranks bound to 16 cores each (--map-by slot:PE=16).
  EXPECT_EQ(fathom::threads_for_rank(16, 64, 4), 16);
  // 2-core node, 2 ranks bound to one core each (--bind-to core).
  EXPECT_EQ(fathom::threads_for_rank(1, 2, 2), 1);
  // 4-core node, 2 ranks on two cores each: not 2 / 2 = 1.
  EXPECT_EQ(fathom::threads_for_rank(2, 4, 2), 2);
}

TEST(Threads, UnboundRankDividesTheNode) {
  EXPECT_EQ(fathom::threads_for_rank(64, 64, 4), 16);
  EXPECT_EQ(fathom::threads_for_rank(2, 2, 2), 1);
  EXPECT_EQ(fathom::threads_for_rank(7, 7, 2), 3);
  EXPECT_EQ(fathom::threads_for_rank(2, 2, 8), 1) << "never below one thread";
  EXPECT_EQ(fathom::threads_for_rank(8, 8, 1), 8);
  EXPECT_EQ(fathom::threads_for_rank(8, 8, 0), 8) << "an unknown rank count counts as one";
}

TEST(Threads, RequestedCountWins) {
  EXPECT_EQ(fathom::threads_per_rank(5), 5);
}

TEST(Threads, WithoutALauncherAProcessUsesItsAffinity) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  EXPECT_EQ(fathom::usable_cores(), CPU_COUNT(&set));
  // ctest runs this outside mpirun: one rank per node, all its cores.
  for (const char* var : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"})
    if (std::getenv(var)) GTEST_SKIP() << var << " is set: running under a launcher";
  EXPECT_EQ(fathom::local_ranks(), 1);
  EXPECT_EQ(fathom::threads_per_rank(0), CPU_COUNT(&set));
}

TEST(Threads, LocalRanksReadsTheLaunchersEnvironment) {
  const char* saved = std::getenv("SLURM_NTASKS_PER_NODE");
  const std::string keep = saved ? saved : "";
  for (const char* var : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"})
    if (std::getenv(var)) GTEST_SKIP() << var << " is set: running under a launcher";
  ::setenv("SLURM_NTASKS_PER_NODE", "3(x2)", 1);
  EXPECT_EQ(fathom::local_ranks(), 3);
  if (saved)
    ::setenv("SLURM_NTASKS_PER_NODE", keep.c_str(), 1);
  else
    ::unsetenv("SLURM_NTASKS_PER_NODE");
}

TEST(Threads, CountsCpuLists) {
  EXPECT_EQ(fathom::count_cpu_list("0-1"), 2);
  EXPECT_EQ(fathom::count_cpu_list("0-3,8,10-11\n"), 7);
  EXPECT_EQ(fathom::count_cpu_list("5"), 1);
  EXPECT_EQ(fathom::count_cpu_list(""), 0);
  EXPECT_EQ(fathom::count_cpu_list("3-1"), 0);
  EXPECT_EQ(fathom::count_cpu_list("a-b"), 0);
  EXPECT_EQ(fathom::count_cpu_list("0-3x"), 0);
}

TEST(Threads, NodeCoresCoverThisProcess) {
  EXPECT_GE(fathom::node_cores(), fathom::usable_cores());
}

}  // namespace
