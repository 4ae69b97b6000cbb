#include "fathom/core/threads.h"

#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>

namespace fathom {

int local_ranks() {
  for (const char* var : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"}) {
    if (const char* v = std::getenv(var)) {
      // SLURM_NTASKS_PER_NODE may look like "2(x3)"; atoi reads the leading count.
      int n = std::atoi(v);
      if (n > 0) return n;
    }
  }
  return 1;
}

int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

int threads_per_rank(int requested) {
  if (requested > 0) return requested;
  return std::max(1, usable_cores() / local_ranks());
}

}  // namespace fathom
