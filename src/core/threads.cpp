#include "fathom/core/threads.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace fathom {
namespace {

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// The cpuset of this process's cgroup (v2 "0::<path>", or v1's cpuset
// hierarchy), as a CPU count; 0 when none is visible.
int cgroup_cpuset_cores() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    // "<id>:<controllers>:<path>"
    const auto a = line.find(':');
    const auto b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (path == "/") path.clear();
    std::string list;
    if (controllers.empty()) {
      list = first_line("/sys/fs/cgroup" + path + "/cpuset.cpus.effective");
    } else if (("," + controllers + ",").find(",cpuset,") != std::string::npos) {
      list = first_line("/sys/fs/cgroup/cpuset" + path + "/cpuset.effective_cpus");
      if (list.empty()) list = first_line("/sys/fs/cgroup/cpuset" + path + "/cpuset.cpus");
    }
    if (const int n = count_cpu_list(list); n > 0) return n;
  }
  return 0;
}

}  // namespace

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

int node_cores() {
  const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  const int machine = online > 0 ? int(online) : int(std::max(1u, std::thread::hardware_concurrency()));
  const int cpuset = cgroup_cpuset_cores();
  return cpuset > 0 ? std::min(cpuset, machine) : machine;
}

int threads_for_rank(int affinity_cores, int node_cores, int local_ranks) {
  affinity_cores = std::max(1, affinity_cores);
  if (affinity_cores < node_cores) return affinity_cores;  // bound by the launcher
  return std::max(1, affinity_cores / std::max(1, local_ranks));
}

int threads_per_rank(int requested) {
  if (requested > 0) return requested;
  return threads_for_rank(usable_cores(), node_cores(), local_ranks());
}

int count_cpu_list(const std::string& list) {
  int total = 0;
  std::stringstream ss(list);
  std::string part;
  while (std::getline(ss, part, ',')) {
    while (!part.empty() && (part.back() == '\n' || part.back() == ' ')) part.pop_back();
    if (part.empty()) continue;
    char* end = nullptr;
    const long lo = std::strtol(part.c_str(), &end, 10);
    if (end == part.c_str() || lo < 0) return 0;
    long hi = lo;
    if (*end == '-') {
      const char* rest = end + 1;
      hi = std::strtol(rest, &end, 10);
      if (end == rest || hi < lo) return 0;
    }
    if (*end != '\0') return 0;
    total += int(hi - lo + 1);
  }
  return total;
}

}  // namespace fathom
