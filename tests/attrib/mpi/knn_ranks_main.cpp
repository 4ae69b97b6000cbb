// `fathom knn` and `--audit` at 2 and 3 ranks equal 1 rank byte for byte:
// the index is built at N ranks (N shards) and at 1 rank (1 shard), and both
// are searched by N ranks and by one process (a local communicator on rank 0).
// The query forward is split across ranks, the search is collective.
#include <gtest/gtest.h>
#include <unistd.h>

#include "attrib/knn_fixture.h"
#include "fathom/attrib/knn.h"
#include "fathom/core/error.h"
#include "fathom/core/log.h"
#include "mpi_gtest.h"

namespace {

using namespace fathom::attrib::testing;
namespace attrib = fathom::attrib;

fathom::comm::Communicator* g_comm = nullptr;
KnnData g_data;
std::string g_one_shard_index;

std::string path(const std::string& leaf) { return (g_data.dir / leaf).string(); }

bool agreed(bool on_root) { return fathom::testing::agreed(*g_comm, on_root); }

// What both modes read, from the test data.
void set_sources(attrib::KnnSources& o, const std::string& index, const std::string& out) {
  o.model_dir = g_data.model;
  o.index = index;
  o.cache = g_data.cache;
  o.corpus = g_data.corpus;
  o.k = 4;
  o.out = out;
}

attrib::KnnOptions knn_options(const std::string& index, const std::string& out) {
  attrib::KnnOptions o;
  set_sources(o, index, out);
  o.queries = g_data.queries;
  o.batch = 5;
  o.block_queries = 13;
  return o;
}

attrib::AuditOptions audit_options(const std::string& index, const std::string& out) {
  attrib::AuditOptions o;
  set_sources(o, index, out);
  o.memory_budget_bytes = 50 * 12 * 4;
  return o;
}

// Runs `mode` at N ranks over both indexes and in one process over the
// N-shard index; every JSONL output must be the same bytes.
template <class Run>
void expect_same_at_every_rank_count(const std::string& mode, Run run) {
  const std::string n = std::to_string(g_comm->size());
  run(*g_comm, g_data.index, path(mode + "-np" + n + ".jsonl"));
  run(*g_comm, g_one_shard_index, path(mode + "-np" + n + "-one-shard.jsonl"));
  bool same = false;
  if (g_comm->is_root()) {
    auto one = fathom::comm::make_communicator("local");
    run(*one, g_data.index, path(mode + "-np1.jsonl"));
    const std::string reference = slurp(path(mode + "-np1.jsonl"));
    EXPECT_FALSE(reference.empty());
    const bool a = slurp(path(mode + "-np" + n + ".jsonl")) == reference;
    const bool b = slurp(path(mode + "-np" + n + "-one-shard.jsonl")) == reference;
    EXPECT_TRUE(a) << mode << ": np=" << n << " over " << n << " shards differs from np=1";
    EXPECT_TRUE(b) << mode << ": np=" << n << " over 1 shard differs from np=1";
    same = a && b;
  }
  EXPECT_TRUE(agreed(same)) << mode << " differs between rank counts";
}

TEST(KnnRanks, QueriesEqualOneRank) {
  expect_same_at_every_rank_count("knn", [](fathom::comm::Communicator& c, const std::string& index,
                                            const std::string& out) { attrib::knn(knn_options(index, out), c); });
}

TEST(KnnRanks, AuditEqualsOneRank) {
  expect_same_at_every_rank_count("audit", [](fathom::comm::Communicator& c, const std::string& index,
                                              const std::string& out) { attrib::audit(audit_options(index, out), c); });
}

TEST(KnnRanks, RefusalIsCollective) {
  attrib::KnnOptions o = knn_options(g_data.other_index, path("refused.jsonl"));
  int kind = -1;
  try {
    attrib::knn(o, *g_comm);
  } catch (const fathom::Error& e) {
    kind = int(e.kind());
  }
  EXPECT_EQ(kind, int(fathom::ErrorKind::Input)) << "every rank must fail with an input error";
  EXPECT_FALSE(std::filesystem::exists(path("refused.jsonl")));
}

}  // namespace

int main(int argc, char** argv) {
  auto comm = fathom::testing::start_mpi_gtest(&argc, argv);
  g_comm = comm.get();
  g_data = build_knn_data(fathom::testing::root_temp_path(*comm, "knn-mpi"), *comm);
  g_one_shard_index = (g_data.dir / "one-shard.faiss").string();
  if (comm->is_root()) {
    auto one = fathom::comm::make_communicator("local");
    fathom::index::BuildOptions b;
    b.cache = g_data.cache;
    b.out = g_one_shard_index;
    fathom::index::build_index(b, *one);
  }
  comm->barrier();
  return fathom::testing::finish_mpi_gtest(*comm, g_data.dir);
}
