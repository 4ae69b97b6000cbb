// Rank 0 never enters the barrier that the other ranks wait in: their
// watchdog (FATHOM_COLLECTIVE_TIMEOUT) must abort the whole job.
#include <chrono>
#include <thread>

#include "fathom/comm/communicator.h"
#include "fathom/core/log.h"

int main() {
  auto comm = fathom::comm::make_communicator("mpi");
  fathom::log::init(comm->rank(), comm->size());
  if (comm->rank() == 0)
    std::this_thread::sleep_for(std::chrono::seconds(60));  // alive, but not in the barrier
  else
    comm->barrier();
  return 0;
}
