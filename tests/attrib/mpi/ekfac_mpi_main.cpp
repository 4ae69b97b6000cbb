// EK-FAC at 2 and 3 ranks against one process (a local communicator on rank
// 0): factor sums equal to float64 rounding, the same bits on every rank, and
// the factors file written by rank 0 loaded or refused on every rank.
#include <gtest/gtest.h>

#include <filesystem>

#include "ekfac/ekfac_fixture.h"
#include "fathom/attrib/ekfac.h"
#include "fathom/attrib/inverse_hvp.h"
#include "fathom/core/error.h"
#include "grads/grads_fixtures.h"
#include "mpi_gtest.h"

namespace {

namespace attrib = fathom::attrib;
using fathom::grads::testing::double_model;
using fathom::grads::testing::rel_err;

fathom::comm::Communicator* g_comm = nullptr;
std::filesystem::path g_dir;

bool agreed(bool on_root) { return fathom::testing::agreed(*g_comm, on_root); }

attrib::EkfacSettings settings() {
  attrib::EkfacSettings s;
  s.seed = 21;
  s.samples = 2;
  s.batch_rows = 4;  // several batches per rank, different padding at each rank count
  return s;
}

// Every factor tensor of `f`, flattened, in a fixed order.
torch::Tensor all_values(const attrib::EkfacFactors& f) {
  std::vector<torch::Tensor> v;
  for (const auto& b : f.blocks)
    for (const auto& t : {b.a_cov, b.s_cov, b.q_a, b.eig_a, b.q_s, b.eig_s, b.lambda}) v.push_back(t.reshape({-1}));
  v.push_back(f.diagonal_values);
  return torch::cat(v);
}

class EkfacRanks : public ::testing::TestWithParam<std::string> {};

TEST_P(EkfacRanks, FactorSumsEqualOneRank) {
  auto m = double_model(GetParam());
  auto layout = fathom::grads::ParamLayout::select(*m, "all");
  auto corpus = attrib::testing::TokenCorpus::make(23, m->vocab_size(), m->num_labels(), 6, 17);
  const auto f = attrib::compute_ekfac_factors(*m, layout, attrib::testing::training_rows(corpus), *g_comm, settings());
  ASSERT_GE(f.blocks.size(), 4u);

  // The same bits on every rank (rank 0's broadcast).
  torch::Tensor mine = all_values(f).contiguous(), root = mine.clone();
  g_comm->broadcast(root.data_ptr<double>(), root.numel(), fathom::comm::DType::f64, 0);
  EXPECT_TRUE(torch::equal(mine, root));

  bool same = false;
  if (g_comm->is_root()) {
    auto one = fathom::comm::make_communicator("local");
    const auto r = attrib::compute_ekfac_factors(*m, layout, attrib::testing::training_rows(corpus), *one, settings());
    EXPECT_EQ(r.fingerprint, f.fingerprint);
    double worst = 0;
    for (std::size_t k = 0; k < r.blocks.size(); ++k) {
      for (auto [got, want] : {std::pair{f.blocks[k].a_cov, r.blocks[k].a_cov}, std::pair{f.blocks[k].s_cov, r.blocks[k].s_cov},
                               std::pair{f.blocks[k].lambda, r.blocks[k].lambda}}) {
        worst = std::max(worst, rel_err(got, want));
      }
    }
    worst = std::max(worst, rel_err(f.diagonal_values, r.diagonal_values));
    std::printf("np %d vs np 1 (%s): worst relative difference of the factor sums %.3g\n", g_comm->size(),
                GetParam().c_str(), worst);
    EXPECT_LE(worst, 1e-10);
    torch::manual_seed(3);
    torch::Tensor V = torch::randn({4, layout.dim()}, torch::kDouble);
    const double solve = rel_err(attrib::ekfac_solve(f, layout, V, 0.01), attrib::ekfac_solve(r, layout, V, 0.01));
    EXPECT_LE(solve, 1e-8);
    same = worst <= 1e-10 && solve <= 1e-8;
  }
  EXPECT_TRUE(agreed(same));
}

INSTANTIATE_TEST_SUITE_P(Builtin, EkfacRanks, ::testing::Values("bilstm", "transformer"));

TEST(EkfacFile, SavedByRootLoadedOrRefusedOnEveryRank) {
  auto m = double_model("boe");
  auto corpus = attrib::testing::TokenCorpus::make(11, m->vocab_size(), m->num_labels(), 5, 4);
  attrib::TrainingHessian h(*m, fathom::grads::ParamLayout::select(*m, "all"), attrib::testing::training_rows(corpus),
                            *g_comm, 3);
  attrib::SolverOptions o;
  o.solver = "ekfac";
  o.damping = 0.1;
  o.ekfac_path = (g_dir / "factors.pt").string();
  auto first = attrib::make_ekfac_inverse_hvp(o, h);
  first->setup();
  torch::manual_seed(5);
  torch::Tensor V = torch::randn({2, h.dim()}, torch::kDouble);
  auto second = attrib::make_ekfac_inverse_hvp(o, h);
  second->setup();
  EXPECT_NE(second->report_json().find("\"loaded_from\":\"" + o.ekfac_path), std::string::npos);
  EXPECT_TRUE(torch::equal(second->apply(V), first->apply(V)));
  o.ekfac_samples = 3;
  auto third = attrib::make_ekfac_inverse_hvp(o, h);
  EXPECT_THROW(third->setup(), fathom::InputError);  // on every rank, none left waiting
}

}  // namespace

int main(int argc, char** argv) {
  auto comm = fathom::testing::start_mpi_gtest(&argc, argv);
  g_comm = comm.get();
  g_dir = fathom::testing::root_temp_path(*comm, "ekfac-mpi");
  if (comm->is_root()) std::filesystem::create_directories(g_dir);
  comm->barrier();
  return fathom::testing::finish_mpi_gtest(*comm, g_dir);
}
