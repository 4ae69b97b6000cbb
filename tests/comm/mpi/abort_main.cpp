// Rank 1 fails inside run_guarded while rank 0 blocks in a barrier: the job
// must end through fail_job's abort, not hang, with the exit code of the
// error's kind on the whole job. Argument: "internal" (exit 1) or "input"
// (exit 2).
#include <string>

#include "fathom/comm/communicator.h"
#include "fathom/comm/failure.h"
#include "fathom/core/error.h"
#include "fathom/core/log.h"

int main(int argc, char** argv) {
  const std::string kind = argc > 1 ? argv[1] : "internal";
  auto comm = fathom::comm::make_communicator("mpi");
  fathom::log::init(comm->rank(), comm->size());
  return fathom::comm::run_guarded(comm.get(), [&] {
    if (comm->rank() == 1) {
      if (kind == "input") throw fathom::InputError("corpus.jsonl", "deliberate input error on rank 1");
      throw fathom::Error("deliberate failure on rank 1");
    }
    comm->barrier();
    return 0;
  });
}
