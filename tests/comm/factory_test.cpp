#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"

using namespace fathom::comm;

namespace {
bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}
}  // namespace

TEST(commFactory, UnknownBackendIsUsageError) {
  try {
    make_communicator("carrier-pigeon");
    FAIL() << "no throw";
  } catch (const fathom::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("carrier-pigeon"), std::string::npos);
    EXPECT_EQ(fathom::exit_code_for(e), 2);
  }
}

TEST(commFactory, AvailableBackends) {
  const auto b = available_backends();
  EXPECT_TRUE(has(b, "local"));
  EXPECT_TRUE(has(b, "mpi"));
#ifdef FATHOM_HAVE_NCCL
  EXPECT_TRUE(has(b, "nccl"));
  EXPECT_EQ(nccl_version().rfind("2.", 0), 0u) << nccl_version();
#else
  EXPECT_FALSE(has(b, "nccl"));
  EXPECT_EQ(nccl_version(), "");
#endif
}

TEST(commFactory, AutoWithoutLauncherIsLocal) {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "SLURM_NTASKS", "SLURM_PROCID"})
    ::unsetenv(v);
  EXPECT_EQ(make_communicator("auto")->backend(), "local");
  EXPECT_EQ(make_communicator()->backend(), "local");
  ::setenv("OMPI_COMM_WORLD_SIZE", "1", 1);  // mpirun -np 1: nothing to talk to
  EXPECT_EQ(make_communicator("auto")->backend(), "local");
  ::unsetenv("OMPI_COMM_WORLD_SIZE");
}

TEST(commFactory, MpiLibraryVersionIsOneLine) {
  const auto v = mpi_library_version();
  EXPECT_FALSE(v.empty());
  EXPECT_EQ(v.find('\n'), std::string::npos);
}

// Without a GPU, "nccl" must fail with a clear usage error, not crash.
TEST(commFactory, NcclWithoutGpuIsClearError) {
  if (!has(available_backends(), "nccl")) GTEST_SKIP() << "nccl not built in";
  try {
    auto c = make_communicator("nccl");
    EXPECT_EQ(c->backend(), "nccl");  // a GPU is present: it must simply work
  } catch (const fathom::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("no CUDA device"), std::string::npos) << e.what();
  }
}
