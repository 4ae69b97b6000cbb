// Triggers, HotFlip and input reduction at 2 and 3 ranks equal one process:
// the same trigger with bitwise the same per-iteration losses and held-out
// figures, and the same JSONL bytes (meta files equal but for time and rank
// count). One-rank results come from a local communicator on rank 0.
#include <gtest/gtest.h>

#include <filesystem>

#include "attack/attack_fixture.h"
#include "fathom/attack/hotflip.h"
#include "fathom/attack/reduce.h"
#include "fathom/attack/triggers.h"
#include "fathom/core/error.h"
#include "mpi_gtest.h"
#include "test_files.h"

namespace {

namespace attack = fathom::attack;
namespace data = fathom::data;
using namespace fathom::attack::testing;
using fathom::testing::read_json;
using fathom::testing::slurp;

fathom::comm::Communicator* g_comm = nullptr;
std::filesystem::path g_dir;
Corpus g_corpus;
std::string g_model;

std::string path(const std::string& leaf) { return (g_dir / leaf).string(); }
bool agreed(bool on_root) { return fathom::testing::agreed(*g_comm, on_root); }
std::string np() { return std::to_string(g_comm->size()); }

attack::TriggerOptions trigger_options(const std::string& out) {
  attack::TriggerOptions o;
  o.model_dir = g_model;
  o.corpus = g_corpus.train;
  o.eval = g_corpus.test;
  o.out = out;
  o.threads = 1;
  auto& c = o.config;
  c.target = g_corpus.artifact_label;
  c.length = 2;
  c.beam = 2;
  c.candidates = 15;
  c.batch = 40;
  c.iterations = 3;
  c.seed = 5;
  c.pass_rows = 200;
  return o;
}

// The JSON document without the fields that legitimately differ.
nlohmann::json stable(nlohmann::json j) {
  for (const char* k : {"seconds", "search_seconds", "ranks", "instances_per_s"}) j.erase(k);
  return j;
}

TEST(AttackRanks, TriggersEqualOneRank) {
  for (bool untargeted : {false, true}) {
    attack::TriggerOptions o = trigger_options(path("triggers-np" + np() + ".json"));
    if (untargeted) o.config.target.reset();
    const attack::TriggerResult many = attack::find_trigger(o, *g_comm);
    bool same = false;
    if (g_comm->is_root()) {
      auto one_comm = fathom::comm::make_communicator("local");
      attack::TriggerOptions o1 = o;
      o1.out = path("triggers-np1.json");
      const attack::TriggerResult one = attack::find_trigger(o1, *one_comm);
      const auto& a = many.search;
      const auto& b = one.search;
      EXPECT_EQ(a.ids, b.ids);
      EXPECT_EQ(a.forward_passes, b.forward_passes);
      ASSERT_EQ(a.iterations.size(), b.iterations.size());
      bool bitwise = true;
      for (std::size_t i = 0; i < a.iterations.size(); ++i) {
        bitwise = bitwise && a.iterations[i].loss == b.iterations[i].loss &&
                  a.iterations[i].loss_before == b.iterations[i].loss_before && a.iterations[i].ids == b.iterations[i].ids;
        EXPECT_EQ(a.iterations[i].loss, b.iterations[i].loss) << "iteration " << i + 1;
      }
      ASSERT_TRUE(many.eval && one.eval);
      EXPECT_EQ(many.eval->flip_rate, one.eval->flip_rate);
      EXPECT_EQ(many.eval->accuracy_after, one.eval->accuracy_after);
      const bool files = stable(read_json(o.out)) == stable(read_json(o1.out));
      EXPECT_TRUE(files) << "triggers output differs between np=" << np() << " and np=1";
      same = a.ids == b.ids && bitwise && files;
    }
    EXPECT_TRUE(agreed(same)) << (untargeted ? "untargeted" : "targeted") << " search differs at np=" << np();
  }
}

template <class Options, class Run>
void expect_file_equal_one_rank(const std::string& name, Options o, Run run) {
  o.model_dir = g_model;
  o.queries = g_corpus.test;
  o.batch = 7;  // several batches per rank
  o.threads = 1;
  o.out = path(name + "-np" + np() + ".jsonl");
  const attack::InstanceFileResult many = run(o, *g_comm);
  bool same = false;
  if (g_comm->is_root()) {
    auto one_comm = fathom::comm::make_communicator("local");
    Options o1 = o;
    o1.out = path(name + "-np1.jsonl");
    const attack::InstanceFileResult one = run(o1, *one_comm);
    const std::string reference = slurp(o1.out);
    EXPECT_FALSE(reference.empty());
    const bool lines = slurp(o.out) == reference;
    const bool meta = stable(read_json(o.out + ".meta.json")) == stable(read_json(o1.out + ".meta.json"));
    EXPECT_TRUE(lines) << name << ": np=" << np() << " output differs from np=1";
    EXPECT_TRUE(meta) << name << ": np=" << np() << " meta differs from np=1";
    EXPECT_EQ(many.successes, one.successes);
    same = lines && meta;
  }
  EXPECT_TRUE(agreed(same)) << name << " differs at np=" << np();
  EXPECT_EQ(many.n, std::int64_t(read_examples(g_corpus.test).size()));  // every rank has the result
}

TEST(AttackRanks, HotFlipFileEqualsOneRank) {
  attack::HotFlipFileOptions o;
  o.config.max_flips = 3;
  expect_file_equal_one_rank("hotflip", o, [](const attack::HotFlipFileOptions& x, fathom::comm::Communicator& c) {
    return attack::hotflip_file(x, c);
  });
}

TEST(AttackRanks, ReduceFileEqualsOneRank) {
  attack::ReduceFileOptions o;
  expect_file_equal_one_rank("reduce", o, [](const attack::ReduceFileOptions& x, fathom::comm::Communicator& c) {
    return attack::reduce_file(x, c);
  });
}

TEST(AttackRanks, RefusalIsCollective) {
  attack::TriggerOptions o = trigger_options(path("refused.json"));
  o.config.target = "no-such-label";
  int kind = -1;
  try {
    attack::find_trigger(o, *g_comm);
  } catch (const fathom::Error& e) {
    kind = int(e.kind());
  }
  EXPECT_EQ(kind, int(fathom::ErrorKind::Usage)) << "every rank must fail with a usage error";
  EXPECT_FALSE(std::filesystem::exists(path("refused.json")));
}

}  // namespace

int main(int argc, char** argv) {
  auto comm = fathom::testing::start_mpi_gtest(&argc, argv);
  g_comm = comm.get();
  g_dir = fathom::testing::root_temp_path(*comm, "attack-mpi");
  if (comm->is_root()) std::filesystem::create_directories(g_dir);
  comm->barrier();
  g_corpus = make_corpus(g_dir, *comm, "sentiment", 600);
  g_model = train_model(g_corpus, g_dir / "boe", ModelSpec{}, *comm);
  return fathom::testing::finish_mpi_gtest(*comm, g_dir);
}
