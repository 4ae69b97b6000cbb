#include "fathom/comm/failure.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>

#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"

namespace fathom::comm {

void fail_job(const std::exception& e, Communicator* comm) {
  const int code = exit_code_for(e);
  spdlog::error("{}", describe(e));
  spdlog::default_logger()->flush();
  std::fflush(stdout);
  std::fflush(stderr);
  // With peers, only an abort reaches them; a plain exit would leave them
  // waiting in their next collective until the watchdog fires.
  if (comm && comm->size() > 1) comm->abort(code);
  std::exit(code);
}

int run_guarded(Communicator* comm, const std::function<int()>& body) {
  return run_guarded([comm] { return comm; }, body);
}

int run_guarded(const std::function<Communicator*()>& current_comm, const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    fail_job(e, current_comm());
  } catch (...) {
    fail_job(Error("unknown non-standard exception"), current_comm());
  }
}

}  // namespace fathom::comm
