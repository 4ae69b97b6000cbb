// Backend selection by name, and which backends this binary has.
#include <cstdlib>
#include <string>

#include "backends.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"

namespace fathom::comm {

namespace {
// Integer value of an environment variable, or -1 when unset/garbled.
long env_int(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return -1;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  return (*end == '\0') ? x : -1;
}
}  // namespace

namespace detail {
bool launcher_says_multi_rank() {
  if (env_int("OMPI_COMM_WORLD_SIZE") > 1 || env_int("PMI_SIZE") > 1) return true;
  // PMIx launchers (prterun, srun --mpi=pmix) may only export the rank.
  if (std::getenv("PMIX_RANK") && env_int("OMPI_COMM_WORLD_SIZE") < 0 && env_int("PMI_SIZE") < 0) return true;
  // srun sets SLURM_NTASKS for the whole allocation; SLURM_PROCID marks a task.
  return env_int("SLURM_NTASKS") > 1 && std::getenv("SLURM_PROCID") != nullptr;
}
}  // namespace detail

std::unique_ptr<Communicator> make_communicator(const std::string& backend) {
  if (backend == "local") return detail::make_local();
  if (backend == "mpi") return detail::make_mpi();
  if (backend == "auto") return detail::launched_by_mpi() ? detail::make_mpi() : detail::make_local();
  if (backend == "nccl") {
#ifdef FATHOM_HAVE_NCCL
    return detail::make_nccl();
#else
    throw UsageError("communicator backend 'nccl' is not built into this binary (rebuild with CUDA/NCCL found)");
#endif
  }
  throw UsageError("unknown communicator backend '" + backend + "' (expected auto|local|mpi|nccl)");
}

std::vector<std::string> available_backends() {
  std::vector<std::string> b{"local", "mpi"};
#ifdef FATHOM_HAVE_NCCL
  b.push_back("nccl");
#endif
  return b;
}

std::string nccl_version() {
#ifdef FATHOM_HAVE_NCCL
  return detail::nccl_runtime_version();
#else
  return "";
#endif
}

}  // namespace fathom::comm
