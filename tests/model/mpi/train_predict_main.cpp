// Data-parallel training and sharded prediction under mpirun, checked
// against a single-process run of the same options done by rank 0 with the
// "local" communicator. Rank 0 prints the gtest report, other ranks only
// their failures; every rank exits non-zero if any rank failed.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "mpi_gtest.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/log.h"
#include "fathom/model/predict.h"
#include "fathom/model/train.h"
#include "model/train_helpers.h"

namespace {

fathom::comm::Communicator* g_comm = nullptr;
std::string g_dir;  // rank 0's scratch directory, broadcast to all ranks


std::string path(const std::string& leaf) { return g_dir + "/" + leaf; }

// 53 examples with global batch 8: the last batch has 5 examples, so at 3
// ranks the slices are 2/2/1, and at other batches 3/3/2 (uneven), never a
// multiple of the rank count everywhere.
fathom::model::TrainOptions options(const std::string& out) {
  fathom::model::TrainOptions o;
  o.corpus = path("train.jsonl");
  o.dev = path("dev.jsonl");
  o.out_dir = path(out);
  o.embedding_dim = 16;
  o.hidden_dim = 16;
  o.lr = 0.02;
  o.batch = 8;
  o.epochs = 3;
  o.dropout = 0;  // dropout masks depend on the split over ranks
  o.l2_last = 0.01;
  o.threads = 1;
  return o;
}

bool agreed(bool on_root) { return fathom::testing::agreed(*g_comm, on_root); }

TEST(ModelMpi, TrainingEqualsSingleProcess) {
  for (const char* arch : {"boe", "bilstm"}) {
    SCOPED_TRACE(arch);
    auto o = options(std::string("np-") + arch);
    o.arch = arch;
    auto r = fathom::model::train_model(o, *g_comm);
    ASSERT_EQ(r.epochs.size(), 3u);
    double diff = 0;
    std::optional<double> single_accuracy;
    if (g_comm->is_root()) {
      auto one = fathom::comm::make_communicator("local");
      auto s = o;
      s.out_dir = path(std::string("single-") + arch);
      auto rs = fathom::model::train_model(s, *one);
      single_accuracy = rs.dev_accuracy;
      diff = fathom::testing::max_weight_difference(o.out_dir, s.out_dir);
      std::printf("%s np=%d: max |w_np - w_1| = %.3g\n", arch, g_comm->size(), diff);
      for (std::size_t e = 0; e < 3; ++e)
        EXPECT_NEAR(r.epochs[e].train_loss, rs.epochs[e].train_loss, 1e-5) << "epoch " << e + 1;
      EXPECT_EQ(r.dev_accuracy, single_accuracy);
    }
    EXPECT_TRUE(agreed(diff <= 1e-5)) << "max |w_np - w_1| = " << diff;
  }
}

TEST(ModelMpi, ResumeEqualsUninterruptedRun) {
  // Resume goes through the optimizer-state broadcast only with > 1 rank.
  auto full = options("resume-full");
  fathom::model::train_model(full, *g_comm);
  auto part = options("resume-part");
  part.epochs = 1;
  fathom::model::train_model(part, *g_comm);
  part.epochs = 3;
  auto r = fathom::model::train_model(part, *g_comm);
  EXPECT_EQ(r.resumed_from, 1);
  double diff = 0;
  if (g_comm->is_root()) {
    diff = fathom::testing::max_weight_difference(full.out_dir, part.out_dir);
    std::printf("np=%d: max |w_resumed - w_full| = %.3g\n", g_comm->size(), diff);
  }
  EXPECT_TRUE(agreed(diff <= 1e-6)) << "max |w_resumed - w_full| = " << diff;
}

TEST(ModelMpi, PredictionIsByteIdenticalToSingleProcess) {
  auto o = options("predict-model");
  o.epochs = 2;
  fathom::model::train_model(o, *g_comm);
  for (std::int64_t batch : {5, 64}) {  // 5: many batches over ranks; 64: one batch, idle ranks
    SCOPED_TRACE(batch);
    fathom::model::PredictOptions p;
    p.model_dir = o.out_dir;
    p.corpus = path("test.jsonl");
    p.out = path("preds-np-" + std::to_string(batch) + ".jsonl");
    p.batch = batch;
    p.threads = 1;
    auto r = fathom::model::predict(p, *g_comm);
    EXPECT_EQ(r.n, 23);
    bool same = true;
    if (g_comm->is_root()) {
      auto one = fathom::comm::make_communicator("local");
      auto s = p;
      s.out = path("preds-1-" + std::to_string(batch) + ".jsonl");
      auto rs = fathom::model::predict(s, *one);
      EXPECT_EQ(r.accuracy, rs.accuracy);
      const std::string a = fathom::testing::slurp(p.out), b = fathom::testing::slurp(s.out);
      EXPECT_FALSE(a.empty());
      same = a == b;
    }
    EXPECT_TRUE(agreed(same)) << "preds.jsonl differs between np=" << g_comm->size() << " and np=1";
  }
}

}  // namespace

int main(int argc, char** argv) {
  auto comm = fathom::testing::start_mpi_gtest(&argc, argv);
  g_comm = comm.get();
  std::unique_ptr<fathom::testing::ScratchDir> scratch;
  if (comm->is_root()) {
    scratch = std::make_unique<fathom::testing::ScratchDir>("model-mpi");
    g_dir = scratch->str();
    fathom::testing::write_sentiment_corpus(path("train.jsonl"), 53, 1);
    fathom::testing::write_sentiment_corpus(path("dev.jsonl"), 20, 2);
    fathom::testing::write_sentiment_corpus(path("test.jsonl"), 23, 3);
  }
  comm->broadcast(g_dir, 0);  // one node: every rank sees rank 0's files
  const bool any_failed = fathom::testing::any_rank_failed(*comm);
  comm->barrier();  // nobody may still read the files rank 0 removes now
  scratch.reset();
  return any_failed ? 1 : 0;
}
