// `fathom saliency` at 2 and 3 ranks writes the bytes one process writes
// (vanilla, IG, SmoothGrad and LOO; blocks and batches that do not divide the
// file evenly), and the sanity stages agree; a refusal fails every rank.
#include <gtest/gtest.h>

#include <filesystem>

#include "fathom/attrib/saliency_run.h"
#include "fathom/core/error.h"
#include "mpi_gtest.h"
#include "saliency/saliency_fixture.h"
#include "test_files.h"

namespace {

namespace attrib = fathom::attrib;
fathom::comm::Communicator* g_comm = nullptr;
fathom::saliency_testing::SaliencyData g_data;

attrib::SaliencyOptions options(attrib::SaliencyMethod m, const std::string& out) {
  attrib::SaliencyOptions o;
  o.model_dir = g_data.transformer;
  o.queries = g_data.queries;
  o.out = out;
  o.settings.method = m;
  o.settings.steps = 12;
  o.settings.samples = 3;
  o.settings.seed = 9;
  o.settings.rows_per_pass = 20;
  o.batch = 4;
  o.block = 9;
  o.threads = 1;
  o.progress_period_s = 1e9;
  return o;
}

TEST(SaliencyRanks, EveryMethodEqualsOneRank) {
  const std::string n = std::to_string(g_comm->size());
  for (auto m : {attrib::SaliencyMethod::vanilla, attrib::SaliencyMethod::integrated_gradients,
                 attrib::SaliencyMethod::smoothgrad, attrib::SaliencyMethod::loo}) {
    const std::string name = attrib::method_name(m);
    const std::string out = (g_data.dir / (name + "-np" + n + ".jsonl")).string();
    attrib::SaliencyOptions o = options(m, out);
    o.sanity = m == attrib::SaliencyMethod::vanilla;
    const attrib::SaliencyRunResult r = attrib::saliency(o, *g_comm);
    bool same = false;
    if (g_comm->is_root()) {
      auto one = fathom::comm::make_communicator("local");
      attrib::SaliencyOptions o1 = options(m, (g_data.dir / (name + "-np1.jsonl")).string());
      o1.sanity = o.sanity;
      const attrib::SaliencyRunResult r1 = attrib::saliency(o1, *one);
      const std::string ref = fathom::testing::slurp(o1.out);
      EXPECT_FALSE(ref.empty());
      same = fathom::testing::slurp(out) == ref;
      EXPECT_TRUE(same) << name << ": np=" << n << " differs from np=1";
      ASSERT_EQ(r.sanity.size(), r1.sanity.size());
      for (std::size_t s = 0; s < r.sanity.size(); ++s) {
        ASSERT_TRUE(r.sanity[s].mean_spearman && r1.sanity[s].mean_spearman);
        EXPECT_NEAR(*r.sanity[s].mean_spearman, *r1.sanity[s].mean_spearman, 1e-12) << "stage " << s;
      }
    }
    EXPECT_TRUE(fathom::testing::agreed(*g_comm, same)) << name;
  }
}

TEST(SaliencyRanks, RefusalIsCollective) {
  attrib::SaliencyOptions o = options(attrib::SaliencyMethod::vanilla, (g_data.dir / "refused.jsonl").string());
  o.target = attrib::SaliencyTarget::parse("gold");
  o.queries = (g_data.dir / "unlabelled.jsonl").string();
  if (g_comm->is_root()) fathom::testing::write_sentiment_corpus(o.queries, 10, 4, /*with_labels=*/false);
  g_comm->barrier();
  int kind = -1;
  try {
    attrib::saliency(o, *g_comm);
  } catch (const fathom::Error& e) {
    kind = int(e.kind());
  }
  EXPECT_EQ(kind, int(fathom::ErrorKind::Input)) << "every rank fails with an input error";
  EXPECT_FALSE(std::filesystem::exists(o.out));
}

}  // namespace

int main(int argc, char** argv) {
  auto comm = fathom::testing::start_mpi_gtest(&argc, argv);
  g_comm = comm.get();
  g_data = fathom::saliency_testing::build_saliency_data(fathom::testing::root_temp_path(*comm, "saliency-mpi"), *comm,
                                                         true);
  comm->barrier();
  return fathom::testing::finish_mpi_gtest(*comm, g_data.dir);
}
