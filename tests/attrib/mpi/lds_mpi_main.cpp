// `fathom lds` at 2 and 3 ranks equals 1 rank: lds.json (but for timings and
// ranks) for head retraining with leave-one-out and for full retraining,
// and a rerun at many ranks resumes every retraining one process did. One
// process is a local communicator on rank 0; the data is built once, by all
// ranks.
#include <gtest/gtest.h>

#include "fathom/core/log.h"
#include "lds/lds_fixture.h"
#include "mpi_gtest.h"
#include "test_files.h"

namespace {

using namespace fathom::attrib::lds_testing;
namespace attrib = fathom::attrib;

fathom::comm::Communicator* g_comm = nullptr;
ModelData g_data;

nlohmann::json comparable(const std::string& path) {
  auto j = fathom::testing::read_json(path);
  j.erase("timings");
  j.erase("ranks");
  j["fits"].erase("resumed_subsets");
  return j;
}

void expect_same_at_every_rank_count(attrib::LdsOptions o, const std::string& name) {
  const std::string n = std::to_string(g_comm->size());
  const std::string base = (g_data.dir / name).string();
  o.out = base + "-np" + n + ".json";
  const auto many = attrib::lds(o, *g_comm);
  bool same = false;
  if (g_comm->is_root()) {
    auto one = fathom::comm::make_communicator("local");
    attrib::LdsOptions single = o;
    single.out = base + "-np1.json";
    const auto reference = attrib::lds(single, *one);
    EXPECT_EQ(many.resumed_subsets, 0);
    ASSERT_TRUE(reference.lds.mean);
    EXPECT_EQ(*many.lds.mean, *reference.lds.mean);  // bitwise
    const auto a = comparable(o.out), b = comparable(single.out);
    EXPECT_EQ(a, b) << name << ": np=" << n << " differs from np=1: " << nlohmann::json::diff(b, a).dump();
    same = a == b;
  }
  EXPECT_TRUE(fathom::testing::agreed(*g_comm, same)) << name << " differs between rank counts";
  // Rerun at this rank count on np=1's work directory: nothing is retrained.
  attrib::LdsOptions rerun = o;
  rerun.out = base + "-np1.json";
  const auto again = attrib::lds(rerun, *g_comm);
  EXPECT_EQ(again.resumed_subsets, o.subsets);
}

TEST(LdsRanks, HeadWithLeaveOneOutEqualsOneRank) {
  auto o = model_options(g_data, "");
  o.subsets = 7;  // not a multiple of 2 or 3
  expect_same_at_every_rank_count(o, "head");
}

TEST(LdsRanks, FullRetrainingEqualsOneRank) {
  auto o = model_options(g_data, "");
  o.retrain = "full";
  o.subsets = 3;
  o.loo = 0;
  expect_same_at_every_rank_count(o, "full");
}

}  // namespace

int main(int argc, char** argv) {
  auto comm = fathom::testing::start_mpi_gtest(&argc, argv);
  g_comm = comm.get();
  g_data = build_model_data(fathom::testing::root_temp_path(*comm, "lds-mpi"), *comm);
  return fathom::testing::finish_mpi_gtest(*comm, g_data.dir);
}
