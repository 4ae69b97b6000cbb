// native_mpi_comm: the mpi and nccl backends are private duplicates of
// MPI_COMM_WORLD (see mpi_communicator.cpp, nccl_communicator.cpp), so
// MPI_COMM_WORLD has the same group and rank order. Handing out the world
// communicator keeps the backends' handles private; users duplicate it.
#include "fathom/comm/mpi_handle.h"

#include <string>

#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "mpi_support.h"

namespace fathom::comm {

void* native_mpi_comm(Communicator& comm) {
  const std::string backend = comm.backend();
  if (backend != "mpi" && backend != "nccl") return nullptr;
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized)
    throw CommError("native_mpi_comm", comm.rank(), "MPI is not initialised for backend " + backend);
  // A static copy of the handle, so the returned pointer stays valid.
  static MPI_Comm world = MPI_COMM_WORLD;
  int rank = -1, size = 0;
  detail::mpi_check(MPI_Comm_rank(world, &rank), "native_mpi_comm", comm.rank());
  detail::mpi_check(MPI_Comm_size(world, &size), "native_mpi_comm", comm.rank());
  // Guards the "backend = dup of world" assumption should a backend ever
  // run on a sub-communicator.
  if (rank != comm.rank() || size != comm.size())
    throw CommError("native_mpi_comm", comm.rank(),
                    "MPI_COMM_WORLD is rank " + std::to_string(rank) + " of " + std::to_string(size) +
                        " but the communicator is rank " + std::to_string(comm.rank()) + " of " +
                        std::to_string(comm.size()));
  return &world;
}

}  // namespace fathom::comm
