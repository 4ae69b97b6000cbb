// Library versions, collected in one TU so only this file includes the
// version headers of torch and HDF5.
#include <hdf5.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "command.h"
#include "fathom/core/build_info.h"
#include "fathom/index/version.h"

namespace fathom::cli {

VersionInfo version_info() {
  VersionInfo v;
  v.fathom = FATHOM_VERSION_STRING;
  v.torch = TORCH_VERSION;
  v.torch_cuda = torch::cuda::is_available();
  v.faiss = index::faiss_version();
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

nlohmann::json version_json(const VersionInfo& v) {
  return {{"fathom", v.fathom},     {"libtorch", v.torch}, {"libtorch_cuda", v.torch_cuda},
          {"faiss", v.faiss},
          {"hdf5", v.hdf5},         {"mpi", v.mpi},        {"nccl", v.nccl},
          {"backends", v.backends}, {"compiler", v.compiler}, {"build_type", v.build_type}};
}

}  // namespace fathom::cli
