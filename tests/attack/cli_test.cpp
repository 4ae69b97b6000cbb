// `fathom triggers | hotflip | reduce` through the real binary: outputs with
// their documented fields, and bad input refused with exit 2, a reason, and
// nothing written.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "attack/attack_fixture.h"
#include "cli/fathom_process.h"
#include "test_files.h"

namespace {

namespace fs = std::filesystem;
using fathom::cli::testing::run_fathom;
using fathom::testing::read_json;
using fathom::testing::read_jsonl;
using namespace fathom::attack::testing;

struct Cli {
  fathom::testing::TempDir dir{"attack_cli"};
  std::string model;
  Corpus corpus;
  Cli() {
    auto& shared = SharedModels::get();
    shared.bundle({"boe", "word", 4});
    corpus = shared.corpus;
    model = shared.model_dir({"boe", "word", 4});
  }
};

Cli& cli() {
  static Cli c;
  return c;
}

TEST(AttackCli, TriggersHotflipReduceWriteTheirOutputs) {
  auto& c = cli();
  const std::string triggers = c.dir / "triggers.json";
  auto r = run_fathom("--threads 1 triggers --model " + c.model + " --corpus " + c.corpus.train + " --target " +
                      c.corpus.artifact_label + " --length 1 --iterations 4 --eval " + c.corpus.test + " --out " +
                      triggers);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("flip rate"), std::string::npos) << r.output;
  const auto doc = read_json(triggers);
  EXPECT_EQ(doc["format"], "fathom-triggers");
  EXPECT_EQ(doc["trigger"]["tokens"].size(), 1u);
  EXPECT_FALSE(doc["iterations"].empty());
  EXPECT_TRUE(doc["eval"]["flip_rate"].is_number());
  EXPECT_FALSE(doc["eval"]["per_class"].empty());

  const std::string flips = c.dir / "hotflip.jsonl";
  r = run_fathom("--threads 1 hotflip --model " + c.model + " --queries " + c.corpus.test + " --max-flips 3 --out " +
                 flips);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto lines = read_jsonl(flips);
  EXPECT_EQ(lines.size(), read_examples(c.corpus.test).size());
  EXPECT_TRUE(lines.at(0).contains("adversarial_text"));
  const auto meta = read_json(flips + ".meta.json");
  EXPECT_EQ(meta["format"], "fathom-hotflip-meta");
  EXPECT_EQ(meta["n"], lines.size());
  EXPECT_TRUE(meta["success_rate"].is_number());

  const std::string reduced = c.dir / "reduce.jsonl";
  r = run_fathom("--threads 1 reduce --model " + c.model + " --queries " + c.corpus.test + " --out " + reduced);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_jsonl(reduced).size(), lines.size());
  EXPECT_TRUE(read_json(reduced + ".meta.json")["mean_removed"].is_number());
}

// Exit 2, the reason in the output, no output file.
void expect_refused(const std::string& args, const std::string& reason, const std::string& out) {
  const auto r = run_fathom("--threads 1 " + args + " --out " + out);
  EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
  EXPECT_NE(r.output.find(reason), std::string::npos) << args << "\n" << r.output;
  EXPECT_FALSE(fs::exists(out)) << args;
}

TEST(AttackCli, BadInputExitsTwoWithTheReason) {
  auto& c = cli();
  const std::string out = c.dir / "refused.json";
  const std::string base = "triggers --model " + c.model + " --corpus " + c.corpus.train;
  expect_refused(base + " --target no-such-label", "unknown label 'no-such-label'", out);
  expect_refused(base + " --target " + c.corpus.artifact_label + " --length 0", "--length", out);
  expect_refused(base, "--target LABEL or --untargeted", out);
  // A corpus whose examples all have the target label.
  const std::string same = c.dir / "only-target.jsonl";
  {
    std::ofstream f(same);
    for (const auto& e : read_examples(c.corpus.train))
      if (*e.label == c.corpus.artifact_label) f << nlohmann::json{{"id", e.id}, {"text", e.text}, {"label", *e.label}}.dump() << "\n";
  }
  expect_refused("triggers --model " + c.model + " --corpus " + same + " --target " + c.corpus.artifact_label,
                 "no example to attack", out);
  // A model whose vocabulary has only the special tokens.
  const std::string vocab = c.dir / "specials.txt";
  std::ofstream(vocab) << "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
  const std::string specials = c.dir / "specials-model";
  auto r = run_fathom("--threads 1 train --corpus " + c.corpus.train + " --vocab " + vocab +
                      " --epochs 1 --embedding-dim 4 --hidden-dim 4 --out " + specials);
  ASSERT_EQ(r.code, 0) << r.output;
  expect_refused("triggers --model " + specials + " --corpus " + c.corpus.train + " --target " +
                     c.corpus.artifact_label,
                 "no token an attack may write", out);
  expect_refused("hotflip --model " + specials + " --queries " + c.corpus.test, "no token an attack may write",
                 c.dir / "refused.jsonl");
  expect_refused("hotflip --model " + c.model + " --queries " + c.corpus.test + " --target nope", "unknown label",
                 c.dir / "refused.jsonl");
  expect_refused("reduce --model " + c.model + " --queries " + c.corpus.test + " --beam 0", "--beam",
                 c.dir / "refused.jsonl");
}

}  // namespace
