// Library versions, collected in one TU so only this file includes the
// version headers of torch, FAISS and HDF5.
#include <faiss/Index.h>
#include <hdf5.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "command.h"
#include "fathom/core/build_info.h"

namespace fathom::cli {

VersionInfo version_info() {
  VersionInfo v;
  v.fathom = FATHOM_VERSION_STRING;
  v.torch = TORCH_VERSION;
  v.torch_cuda = torch::cuda::is_available();
  v.faiss = std::to_string(FAISS_VERSION_MAJOR) + "." + std::to_string(FAISS_VERSION_MINOR) + "." +
            std::to_string(FAISS_VERSION_PATCH);
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  v.hdf5 = std::to_string(maj) + "." + std::to_string(min) + "." + std::to_string(rel);
#ifdef H5_HAVE_PARALLEL
  v.hdf5 += " (parallel)";
#endif
  v.mpi = comm::mpi_library_version();
  v.nccl = comm::nccl_version();
  v.compiler = FATHOM_CXX_COMPILER;
  v.build_type = FATHOM_BUILD_TYPE;
  v.backends = comm::available_backends();
  return v;
}

}  // namespace fathom::cli
