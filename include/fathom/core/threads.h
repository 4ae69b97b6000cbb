#pragma once
// How many compute threads one rank should use: with N ranks on a node,
// each gets cores/N so ranks don't oversubscribe the node.
namespace fathom {

// Ranks on this node, from the launcher's environment
// (OMPI_COMM_WORLD_LOCAL_SIZE, MPI_LOCALNRANKS, SLURM_NTASKS_PER_NODE); 1 if unknown.
int local_ranks();
// Usable cores of this process (sched_getaffinity; falls back to hardware_concurrency).
int usable_cores();
// requested > 0 wins; otherwise max(1, usable_cores() / local_ranks()).
int threads_per_rank(int requested = 0);

}  // namespace fathom
