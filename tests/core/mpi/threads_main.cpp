// Launched by mpirun (no MPI calls needed): checks threads_per_rank(0)
// against this rank's real affinity mask, read here with sched_getaffinity.
//
//   threads_main bound <ranks>  mpirun bound this rank to a subset of the
//                               node: it must use exactly its bound cores.
//   threads_main none <ranks>   not bound (mask = whole node): it must take
//                               max(1, cores / ranks).
// Exit 0 when the rank agrees, 1 otherwise (mpirun then fails the job).
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fathom/core/threads.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s bound|none <ranks per node>\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  const int ranks = std::atoi(argv[2]);
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) {
    std::perror("sched_getaffinity");
    return 1;
  }
  const int mine = CPU_COUNT(&set);
  // The launcher (our parent, mpirun) is not bound: its mask is what the
  // node gives this job, whatever cgroup or container limits apply.
  cpu_set_t parent_set;
  CPU_ZERO(&parent_set);
  if (sched_getaffinity(getppid(), sizeof(parent_set), &parent_set) != 0) {
    std::perror("sched_getaffinity(parent)");
    return 1;
  }
  const int node = CPU_COUNT(&parent_set);
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  const char* rank_env = std::getenv("OMPI_COMM_WORLD_RANK");
  const int rank = rank_env ? std::atoi(rank_env) : -1;
  const int threads = fathom::threads_per_rank(0);
  std::printf("rank %d: mode=%s affinity=%d launcher_affinity=%d online=%ld local_ranks=%d threads_per_rank=%d\n",
              rank, mode.c_str(), mine, node, online, fathom::local_ranks(), threads);

  bool ok = true;
  auto fail = [&](const std::string& why) {
    std::printf("rank %d: FAIL: %s\n", rank, why.c_str());
    ok = false;
  };
  if (fathom::local_ranks() != ranks)
    fail("local_ranks() = " + std::to_string(fathom::local_ranks()) + ", expected " + std::to_string(ranks));
  if (mode == "bound") {
    if (mine >= node) fail("mpirun did not narrow the affinity mask; the test cannot tell binding apart");
    if (threads != mine) fail("a bound rank must use its " + std::to_string(mine) + " bound cores");
  } else if (mode == "none") {
    if (mine != node) fail("the rank is not spread over the launcher's cores");
    const int expected = std::max(1, mine / ranks);
    if (threads != expected) fail("an unbound rank must take cores/ranks = " + std::to_string(expected));
  } else {
    fail("unknown mode " + mode);
  }
  return ok ? 0 : 1;
}
