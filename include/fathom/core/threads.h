#pragma once
// How many compute threads one rank should use.
//
// A rank that the launcher bound to cores (mpirun --bind-to core, srun
// --cpu-bind) already has its share: its affinity mask is smaller than the
// node, and it uses exactly the cores it is bound to. Only an unbound rank,
// whose mask spans the whole node, divides the node by the ranks on it, so
// unbound ranks do not oversubscribe the node. A mask narrowed by hand
// (taskset around the launcher) counts as bound; pass --threads then.
#include <string>

namespace fathom {

// Ranks on this node, from the launcher's environment
// (OMPI_COMM_WORLD_LOCAL_SIZE, MPI_LOCALNRANKS, SLURM_NTASKS_PER_NODE); 1 if unknown.
int local_ranks();
// Usable cores of this process (sched_getaffinity; falls back to hardware_concurrency).
int usable_cores();
// Cores of this node that the job may use: the cgroup cpuset when one is
// visible (containers, SLURM's task/cgroup), else the online CPUs.
int node_cores();
// requested > 0 wins; otherwise
// threads_for_rank(usable_cores(), node_cores(), local_ranks()).
int threads_per_rank(int requested = 0);

// The policy, on explicit numbers (tests use it): a rank whose affinity is
// smaller than the node was bound and gets `affinity_cores`; a rank that
// spans the node gets max(1, affinity_cores / local_ranks).
int threads_for_rank(int affinity_cores, int node_cores, int local_ranks);

// Number of CPUs in a Linux cpu list such as "0-3,8,10-11" (cpuset.cpus,
// Cpus_allowed_list); 0 if the text is empty or malformed.
int count_cpu_list(const std::string& list);

}  // namespace fathom
