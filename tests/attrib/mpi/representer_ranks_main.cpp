// `fathom representer` at 2 and 3 ranks equals 1 rank exactly: the head fit
// (its gradient norms, iterations, fitted head), α, the output lines and the
// meta file (but for seconds and ranks). One process is a local communicator
// on rank 0; the data is built once, by all ranks.
#include <gtest/gtest.h>
#include <unistd.h>

#include "attrib/representer_fixture.h"
#include "fathom/attrib/representer.h"
#include "fathom/core/log.h"
#include "mpi_gtest.h"

namespace {

using namespace fathom::attrib::representer_testing;
namespace attrib = fathom::attrib;

fathom::comm::Communicator* g_comm = nullptr;
RepresenterData g_data;

bool agreed(bool on_root) { return fathom::testing::agreed(*g_comm, on_root); }

attrib::RepresenterOptions options(const std::string& model, const std::string& cache, const std::string& out) {
  attrib::RepresenterOptions o;
  o.model_dir = model;
  o.cache = cache;
  o.queries = g_data.queries;
  o.out = (g_data.dir / out).string();
  o.top = 4;
  o.batch = 5;
  o.block_queries = 13;  // several query blocks
  o.threads = 1;
  return o;
}

std::vector<float> alpha_values(const std::string& path) {
  auto r = fathom::store::CacheReader::open(path);
  std::vector<float> a(std::size_t(r.rows() * r.dataset("representer_alpha").values_per_row()));
  r.read_rows("representer_alpha", 0, r.rows(), a.data());
  return a;
}

void expect_same_at_every_rank_count(const std::string& model, const std::string& cache, const std::string& name) {
  const std::string n = std::to_string(g_comm->size());
  const auto many = options(model, cache, name + "-np" + n + ".jsonl");
  const auto result = attrib::representer(many, *g_comm);
  bool same = false;
  if (g_comm->is_root()) {
    auto one = fathom::comm::make_communicator("local");
    const auto single = options(model, cache, name + "-np1.jsonl");
    const auto reference = attrib::representer(single, *one);
    EXPECT_TRUE(reference.fitted);
    EXPECT_EQ(result.iterations, reference.iterations);
    EXPECT_EQ(result.gradient_norm_before, reference.gradient_norm_before);  // bitwise
    EXPECT_EQ(result.gradient_norm_after, reference.gradient_norm_after);
    const bool lines = file_text(many.out) == file_text(single.out) && !file_text(single.out).empty();
    const bool head = file_text(many.out + ".head.json") == file_text(single.out + ".head.json");
    const bool alpha = alpha_values(many.out + ".alpha.h5") == alpha_values(single.out + ".alpha.h5");
    auto meta_many = read_json(many.out + ".meta.json"), meta_one = read_json(single.out + ".meta.json");
    for (auto* m : {&meta_many, &meta_one}) {
      m->erase("seconds");
      m->erase("ranks");
      (*m)["alpha"].erase("file");
      (*m)["fit"].erase("head");
    }
    const bool meta = meta_many == meta_one;
    EXPECT_TRUE(lines) << name << ": np=" << n << " output lines differ from np=1";
    EXPECT_TRUE(head) << name << ": np=" << n << " fitted head differs from np=1";
    EXPECT_TRUE(alpha) << name << ": np=" << n << " alpha differs from np=1";
    EXPECT_TRUE(meta) << name << ": np=" << n << " meta differs from np=1:\n" << meta_many.dump(1) << "\n"
                      << meta_one.dump(1);
    same = lines && head && alpha && meta;
  }
  EXPECT_TRUE(agreed(same)) << name << " differs between rank counts";
}

TEST(RepresenterRanks, ModelTrainedWithL2LastEqualsOneRank) {
  expect_same_at_every_rank_count(g_data.l2_model, g_data.l2_cache, "l2");
}

TEST(RepresenterRanks, ModelTrainedWithoutL2LastEqualsOneRank) {
  expect_same_at_every_rank_count(g_data.plain_model, g_data.plain_cache, "plain");
}

}  // namespace

int main(int argc, char** argv) {
  auto comm = fathom::testing::start_mpi_gtest(&argc, argv);
  g_comm = comm.get();
  g_data = build_representer_data(fathom::testing::root_temp_path(*comm, "representer-mpi"), *comm);
  return fathom::testing::finish_mpi_gtest(*comm, g_data.dir);
}
