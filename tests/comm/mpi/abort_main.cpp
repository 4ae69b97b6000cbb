// Rank 1 fails inside run_guarded while rank 0 blocks in a barrier: the job
// must end (non-zero) through fail_job's abort, not hang.
#include "fathom/comm/communicator.h"
#include "fathom/comm/failure.h"
#include "fathom/core/error.h"
#include "fathom/core/log.h"

int main() {
  auto comm = fathom::comm::make_communicator("mpi");
  fathom::log::init(comm->rank(), comm->size());
  return fathom::comm::run_guarded(comm.get(), [&] {
    if (comm->rank() == 1) throw fathom::Error("deliberate failure on rank 1");
    comm->barrier();
    return 0;
  });
}
