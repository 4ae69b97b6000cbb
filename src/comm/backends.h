#pragma once
// Internal factories for the backends (private to fathom_comm; see
// make_communicator in communicator.h for the public entry point).
#include <memory>
#include <string>

#include "fathom/comm/communicator.h"

namespace fathom::comm::detail {

std::unique_ptr<Communicator> make_local();
// Initialises MPI if needed (ref-counted; finalised with the last user).
std::unique_ptr<Communicator> make_mpi();
// True when "auto" should pick mpi: MPI already initialised, or a launcher's
// environment says there are several ranks.
bool launched_by_mpi();
// The environment part of launched_by_mpi (no MPI calls; unit-testable).
bool launcher_says_multi_rank();

#ifdef FATHOM_HAVE_NCCL
// Throws UsageError when no CUDA device is visible.
std::unique_ptr<Communicator> make_nccl();
// Version of the NCCL library loaded at run time, "2.x.y".
std::string nccl_runtime_version();
#endif

}  // namespace fathom::comm::detail
