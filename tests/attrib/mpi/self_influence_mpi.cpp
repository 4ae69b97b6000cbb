// `fathom self-influence` at 2 and 3 ranks equals 1 rank (up to rounding: the
// row batches differ, and lissa/cg all-reduce in another order): exact (each
// rank applies the stored inverse to its own rows), cg (every rank in the same
// collective solve per block of rows), lissa (the same, seeded), and TracIn
// with query scores (shard columns gathered into the matrix). One process is
// a local communicator on rank 0; the data is built once, by all ranks.
// Registered by tests/selfinf/mpi/CMakeLists.txt.
#include <gtest/gtest.h>

#include "fathom/attrib/score_matrix.h"
#include "fathom/attrib/self_influence.h"
#include "mpi_gtest.h"
#include "selfinf/self_influence_fixture.h"

namespace {

namespace attrib = fathom::attrib;
using namespace fathom::attrib::selfinf_testing;

fathom::comm::Communicator* g_comm = nullptr;
SelfInfluenceData g_data;

attrib::SelfInfluenceOptions options(const std::string& out) {
  attrib::SelfInfluenceOptions o;
  o.model_dir = g_data.model;
  o.cache = g_data.cache;
  o.out = (g_data.dir / out).string();
  o.batch = 7;
  o.threads = 1;
  o.progress_period_s = 1e9;
  return o;
}

// Runs `o` at this job's rank count and alone on rank 0; true on every rank
// when the scores (and TracIn matrices) agree within `tolerance`.
void expect_same_as_one_rank(attrib::SelfInfluenceOptions o, const std::string& name, double tolerance) {
  const std::string n = std::to_string(g_comm->size());
  attrib::SelfInfluenceOptions many = o, one = o;
  many.out = (g_data.dir / (name + "-np" + n + ".jsonl")).string();
  one.out = (g_data.dir / (name + "-np1.jsonl")).string();
  if (!o.scores_out.empty()) {
    many.scores_out = (g_data.dir / (name + "-np" + n + ".h5")).string();
    one.scores_out = (g_data.dir / (name + "-np1.h5")).string();
  }
  const auto r = attrib::self_influence(many, *g_comm);
  EXPECT_EQ(r.rows, 80);
  bool same = false;
  if (g_comm->is_root()) {
    auto local = fathom::comm::make_communicator("local");
    attrib::self_influence(one, *local);
    bool ranked = false;
    const double worst = worst_relative(scores_by_id(many.out, &ranked), scores_by_id(one.out));
    EXPECT_TRUE(ranked) << name;
    EXPECT_LT(worst, tolerance) << name << ": np=" << n << " scores differ from np=1";
    same = ranked && worst < tolerance;
    if (!o.scores_out.empty()) {
      const auto a = attrib::read_score_matrix(many.scores_out), b = attrib::read_score_matrix(one.scores_out);
      double diff = 0, scale = 0;
      for (std::size_t i = 0; i < b.scores.size(); ++i) {
        diff = std::max(diff, double(std::abs(a.scores[i] - b.scores[i])));
        scale = std::max(scale, double(std::abs(b.scores[i])));
      }
      EXPECT_EQ(a.train_ids, b.train_ids);
      EXPECT_EQ(a.query_ids, b.query_ids);
      EXPECT_LT(diff, 1e-5 * scale) << name << ": np=" << n << " TracIn matrix differs from np=1";
      same = same && diff < 1e-5 * scale && a.train_ids == b.train_ids;
    }
    const auto meta = fathom::testing::read_json(many.out + ".meta.json");
    EXPECT_EQ(meta.at("ranks").get<int>(), g_comm->size());
  }
  EXPECT_TRUE(fathom::testing::agreed(*g_comm, same)) << name << " differs between rank counts";
}

TEST(SelfInfluenceRanks, ExactEqualsOneRank) {
  auto o = options("exact");
  o.solver.solver = "exact";
  o.solver.damping = 0.5;
  expect_same_as_one_rank(o, "exact", 1e-5);
}

TEST(SelfInfluenceRanks, ConjugateGradientEqualsOneRank) {
  auto o = options("cg");
  o.solver.solver = "cg";
  o.solver.damping = 0.5;
  o.solver.tolerance = 1e-12;
  o.batch = 40;
  expect_same_as_one_rank(o, "cg", 1e-5);
}

TEST(SelfInfluenceRanks, LissaEqualsOneRank) {
  auto o = options("lissa");
  o.solver.solver = "lissa";
  o.solver.damping = 0.5;
  o.solver.depth = 50;
  o.solver.batch = 12;
  o.batch = 40;
  expect_same_as_one_rank(o, "lissa", 1e-5);
}

TEST(SelfInfluenceRanks, TracinWithQueriesEqualsOneRank) {
  auto o = options("tracin");
  o.tracin = true;
  o.queries = g_data.queries;
  o.scores_out = "set";
  expect_same_as_one_rank(o, "tracin", 1e-5);
}

}  // namespace

int main(int argc, char** argv) {
  auto comm = fathom::testing::start_mpi_gtest(&argc, argv);
  g_comm = comm.get();
  g_data = build_self_influence_data(fathom::testing::root_temp_path(*comm, "self-influence-mpi"), *comm);
  return fathom::testing::finish_mpi_gtest(*comm, g_data.dir);
}
