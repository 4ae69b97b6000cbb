#pragma once
// Escape hatch for libraries that need the raw MPI communicator (parallel
// HDF5's MPI-IO driver). Kept out of communicator.h so mpi.h never reaches
// users of the communicator interface.
namespace fathom::comm {

class Communicator;

// Pointer to an MPI_Comm (cast with `*static_cast<MPI_Comm*>(p)`) spanning
// exactly the ranks of `comm`, in the same rank order; nullptr for backends
// without MPI ("local"). The pointee lives until MPI is finalised; do not
// free it. Callers that need a private communication context must duplicate
// it (H5Pset_fapl_mpio does). Any rank; not collective.
// Throws CommError if MPI's view of the ranks disagrees with `comm`.
void* native_mpi_comm(Communicator& comm);

}  // namespace fathom::comm
