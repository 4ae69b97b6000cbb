// `fathom influence` at 2 and 3 ranks equals 1 rank: the same training ids in
// every proponent/opponent list and the same scores (to 1e-5 of the largest:
// HVP sums are all-reduced in another order), for each solver; with
// --scores-out the full matrices agree too. One process is a local
// communicator on rank 0; the data (representer_fixture.h) is built once.
#include <gtest/gtest.h>

#include <cmath>

#include "attrib/representer_fixture.h"
#include "fathom/attrib/influence.h"
#include "fathom/attrib/score_matrix.h"
#include "mpi_gtest.h"

namespace {

using namespace fathom::attrib::representer_testing;
namespace attrib = fathom::attrib;

fathom::comm::Communicator* g_comm = nullptr;
RepresenterData g_data;

attrib::InfluenceOptions options(const std::string& solver, const std::string& name) {
  attrib::InfluenceOptions o;
  o.model_dir = g_data.l2_model;
  o.cache = g_data.l2_cache;
  o.queries = g_data.queries;
  o.corpus = g_data.cache_corpus;
  o.out = (g_data.dir / (name + ".jsonl")).string();
  o.scores_out = (g_data.dir / (name + ".h5")).string();
  o.top = 4;
  o.query_batch = 7;  // several query blocks
  o.hessian_batch = 11;
  o.solver.solver = solver;
  o.solver.damping = 0.05;
  o.solver.depth = 60;
  o.solver.repeats = 3;
  o.solver.batch = 24;
  o.solver.rank = 8;
  o.solver.lanczos_steps = 22;  // the whole space of the 22 head parameters: the top 8 are converged
  o.threads = 1;
  o.progress_period_s = 1e9;
  return o;
}

bool same_lists(const std::string& a, const std::string& b, std::string& why) {
  auto la = read_jsonl(a), lb = read_jsonl(b);
  if (la.size() != lb.size() || la.empty()) return why = "line counts differ", false;
  for (std::size_t q = 0; q < la.size(); ++q)
    for (const char* key : {"proponents", "opponents"}) {
      const auto &x = la[q][key], &y = lb[q][key];
      if (x.size() != y.size()) return why = "list sizes differ", false;
      double scale = 1e-30;
      for (const auto& e : y) scale = std::max(scale, std::abs(e["score"].get<double>()));
      for (std::size_t j = 0; j < x.size(); ++j) {
        if (x[j]["id"] != y[j]["id"])
          return why = "query " + std::to_string(q) + " " + key + " " + std::to_string(j) + ": " + x[j]["id"].dump() +
                       " vs " + y[j]["id"].dump(),
                 false;
        if (std::abs(x[j]["score"].get<double>() - y[j]["score"].get<double>()) > 1e-5 * scale)
          return why = "scores differ", false;
      }
    }
  return true;
}

void expect_same_at_every_rank_count(const std::string& solver) {
  const std::string n = std::to_string(g_comm->size());
  const auto many = options(solver, solver + "-np" + n);
  attrib::influence(many, *g_comm);
  bool same = false;
  if (g_comm->is_root()) {
    auto one = fathom::comm::make_communicator("local");
    const auto single = options(solver, solver + "-np1");
    attrib::influence(single, *one);
    std::string why;
    const bool lists = same_lists(many.out, single.out, why);
    EXPECT_TRUE(lists) << solver << ": np=" << n << ": " << why;
    const auto ma = attrib::read_score_matrix(many.scores_out), mb = attrib::read_score_matrix(single.scores_out);
    double scale = 1e-30, diff = 0;
    for (std::size_t i = 0; i < mb.scores.size(); ++i) {
      scale = std::max(scale, double(std::abs(mb.scores[i])));
      diff = std::max(diff, double(std::abs(ma.scores[i] - mb.scores[i])));
    }
    EXPECT_EQ(ma.scores.size(), mb.scores.size());
    EXPECT_LE(diff, 1e-5 * scale) << solver << ": score matrices differ";
    same = lists && diff <= 1e-5 * scale && ma.scores.size() == mb.scores.size();
  }
  EXPECT_TRUE(fathom::testing::agreed(*g_comm, same)) << solver << " differs between rank counts";
}

TEST(InfluenceRanks, CgEqualsOneRank) { expect_same_at_every_rank_count("cg"); }
TEST(InfluenceRanks, LissaEqualsOneRank) { expect_same_at_every_rank_count("lissa"); }
TEST(InfluenceRanks, ExactEqualsOneRank) { expect_same_at_every_rank_count("exact"); }
TEST(InfluenceRanks, ArnoldiEqualsOneRank) { expect_same_at_every_rank_count("arnoldi"); }
TEST(InfluenceRanks, EkfacEqualsOneRank) { expect_same_at_every_rank_count("ekfac"); }

}  // namespace

int main(int argc, char** argv) {
  auto comm = fathom::testing::start_mpi_gtest(&argc, argv);
  g_comm = comm.get();
  g_data = build_representer_data(fathom::testing::root_temp_path(*comm, "influence-mpi"), *comm);
  return fathom::testing::finish_mpi_gtest(*comm, g_data.dir);
}
