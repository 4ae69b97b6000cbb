// Synthetic corpora: determinism, balance, and that the planted truth
// (artifact token, flipped labels) is exactly what truth.json says.
#include "fathom/data/synth.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"
#include "fathom/core/hash.h"
#include "temp_dir.h"
#include "test_files.h"

namespace fs = std::filesystem;
using fathom::data::synthesize;
using fathom::data::SynthOptions;
using fathom::data::SynthSummary;
using nlohmann::json;

namespace {

using fathom::testing::TempDir;

using fathom::testing::read_jsonl;

// Words of a text with attached punctuation removed.
std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string w;
  while (in >> w) {
    while (!w.empty() && (w.back() == ',' || w.back() == '.' || w.back() == ';')) w.pop_back();
    if (!w.empty()) out.push_back(w);
  }
  return out;
}

int count_word(const std::string& text, const std::string& token) {
  int n = 0;
  for (const auto& w : words(text)) n += w == token;
  return n;
}

SynthOptions options(const std::string& dir, const std::string& task, std::int64_t n) {
  SynthOptions o;
  o.task = task;
  o.n = n;
  o.out_dir = dir;
  return o;
}

const char* const kFiles[] = {"train.jsonl", "dev.jsonl", "test.jsonl", "truth.json"};

}  // namespace

TEST(Synth, SameSeedGivesIdenticalBytes) {
  for (const char* task : {"sentiment", "nli"}) {
    TempDir a(std::string("same_a_") + task), b(std::string("same_b_") + task);
    SynthOptions o = options(a.str(), task, 3000);
    o.artifact_rate = 0.3;
    o.flip_rate = 0.05;
    synthesize(o);
    o.out_dir = b.str();
    synthesize(o);
    for (const char* f : kFiles)
      EXPECT_EQ(fathom::read_file(a.file(f)), fathom::read_file(b.file(f))) << task << " " << f;
  }
}

TEST(Synth, OtherSeedDiffers) {
  TempDir a("seed_a"), b("seed_b");
  SynthOptions o = options(a.str(), "sentiment", 500);
  synthesize(o);
  o.out_dir = b.str();
  o.seed = 2;
  synthesize(o);
  for (const char* f : {"train.jsonl", "dev.jsonl", "test.jsonl"})
    EXPECT_NE(fathom::read_file(a.file(f)), fathom::read_file(b.file(f))) << f;
}

TEST(Synth, OutputShapeAndNoTempFiles) {
  TempDir d("shape");
  SynthOptions o = options(d.str(), "nli", 1000);
  o.dev_fraction = 0.2;
  o.test_fraction = 0.05;
  SynthSummary s = synthesize(o);
  EXPECT_EQ(s.classes, 3);
  EXPECT_EQ(s.labels, (std::vector<std::string>{"entailment", "neutral", "contradiction"}));
  EXPECT_EQ(s.train.examples, 1000);
  EXPECT_EQ(s.dev.examples, 200);
  EXPECT_EQ(s.test.examples, 50);
  auto train = read_jsonl(s.train.path);
  ASSERT_EQ(train.size(), 1000u);
  EXPECT_EQ(train[0]["id"], "train-000001");
  EXPECT_EQ(train[999]["id"], "train-001000");
  EXPECT_EQ(read_jsonl(s.dev.path)[0]["id"], "dev-000001");
  std::set<std::string> ids;
  for (const auto& ex : train) {
    ids.insert(ex["id"].get<std::string>());
    ASSERT_TRUE(ex["text"].is_string());
    ASSERT_TRUE(ex["text_pair"].is_string());
    EXPECT_FALSE(ex["text"].get<std::string>().empty());
    EXPECT_FALSE(ex["text_pair"].get<std::string>().empty());
    EXPECT_TRUE(std::count(s.labels.begin(), s.labels.end(), ex["label"].get<std::string>()) == 1);
  }
  EXPECT_EQ(ids.size(), train.size());
  for (const auto& e : fs::directory_iterator(d.str()))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
  json truth = json::parse(fathom::read_file(s.truth_path));
  EXPECT_EQ(truth["format_version"], 1);
  EXPECT_EQ(truth["task"], "nli");
  EXPECT_EQ(truth["classes"], 3);
  EXPECT_TRUE(truth["artifacts"].empty());  // rate 0: nothing planted
  EXPECT_TRUE(truth["flipped"].empty());
}

TEST(Synth, LabelsRoughlyBalanced) {
  struct Case {
    const char* task;
    int classes;
  };
  for (Case c : {Case{"sentiment", 2}, Case{"sentiment", 3}, Case{"sentiment", 5}, Case{"nli", 3}}) {
    TempDir d(std::string("balance_") + c.task + std::to_string(c.classes));
    SynthOptions o = options(d.str(), c.task, 20000);
    o.classes = c.classes;
    SynthSummary s = synthesize(o);
    ASSERT_EQ(s.labels.size(), static_cast<std::size_t>(c.classes));
    // Counted from the file, not taken from the summary (which must agree).
    std::map<std::string, std::int64_t> counted;
    for (const auto& ex : read_jsonl(s.train.path)) ++counted[ex["label"].get<std::string>()];
    ASSERT_EQ(counted.size(), s.labels.size()) << c.task << " " << c.classes;
    for (std::size_t k = 0; k < s.labels.size(); ++k) {
      const std::int64_t count = counted[s.labels[k]];
      EXPECT_EQ(s.train.label_counts.at(k), count) << s.labels[k];
      EXPECT_NEAR(double(count) / 20000.0, 1.0 / c.classes, 0.03) << c.task << " " << c.classes;
    }
  }
}

TEST(Synth, FlipsAreExactRecordedAndLeaveTextsAlone) {
  for (const char* task : {"sentiment", "nli"}) {
    TempDir clean(std::string("flip_clean_") + task), noisy(std::string("flip_noisy_") + task);
    SynthOptions o = options(clean.str(), task, 4001);
    o.classes = std::string(task) == "sentiment" ? 3 : 0;
    synthesize(o);
    o.out_dir = noisy.str();
    o.flip_rate = 0.1;
    SynthSummary s = synthesize(o);
    EXPECT_EQ(s.flipped, 400);  // round(0.1 * 4001)

    json truth = json::parse(fathom::read_file(s.truth_path));
    ASSERT_EQ(truth["flipped"].size(), 400u);
    EXPECT_EQ(truth["n_flipped"], 400);
    std::map<std::string, json> flipped;
    for (const auto& f : truth["flipped"]) {
      EXPECT_NE(f["original"], f["flipped_to"]);
      flipped[f["id"].get<std::string>()] = f;
    }
    ASSERT_EQ(flipped.size(), 400u);

    auto a = read_jsonl(clean.file("train.jsonl"));
    auto b = read_jsonl(noisy.file("train.jsonl"));
    ASSERT_EQ(a.size(), b.size());
    int differing = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i]["text"], b[i]["text"]);  // flips never change the text
      auto it = flipped.find(b[i]["id"].get<std::string>());
      if (it == flipped.end()) {
        EXPECT_EQ(a[i]["label"], b[i]["label"]);
      } else {
        EXPECT_EQ(it->second["original"], a[i]["label"]);
        EXPECT_EQ(it->second["flipped_to"], b[i]["label"]);
      }
      differing += a[i]["label"] != b[i]["label"];
    }
    EXPECT_EQ(differing, 400);
    // dev and test stay clean.
    EXPECT_EQ(fathom::read_file(clean.file("dev.jsonl")), fathom::read_file(noisy.file("dev.jsonl")));
    EXPECT_EQ(fathom::read_file(clean.file("test.jsonl")), fathom::read_file(noisy.file("test.jsonl")));
  }
}

TEST(Synth, ArtifactOnlyInDeclaredLabelTrainAndDev) {
  for (const char* task : {"sentiment", "nli"}) {
    TempDir d(std::string("artifact_") + task);
    SynthOptions o = options(d.str(), task, 6000);
    o.artifact_rate = 0.25;
    o.flip_rate = 0.05;
    o.seed = 7;
    SynthSummary s = synthesize(o);
    json truth = json::parse(fathom::read_file(s.truth_path));
    ASSERT_EQ(truth["artifacts"].size(), 1u);
    const json& art = truth["artifacts"][0];
    const std::string token = art["token"], label = art["label"], field = art["field"];
    EXPECT_EQ(token, s.artifact_token);
    if (std::string(task) == "nli") {
      EXPECT_EQ(token, "nobody");
      EXPECT_EQ(label, "contradiction");
      EXPECT_EQ(field, "text_pair");
    } else {
      EXPECT_EQ(label, "positive");
      EXPECT_EQ(field, "text");
    }
    std::set<std::string> flipped;
    for (const auto& f : truth["flipped"]) flipped.insert(f["id"].get<std::string>());

    std::map<std::string, std::int64_t> found;
    for (const char* split : {"train", "dev", "test"}) {
      std::int64_t eligible = 0;
      for (const auto& ex : read_jsonl(d.file(std::string(split) + ".jsonl"))) {
        const std::string other = field == "text" ? "text_pair" : "text";
        if (ex.contains(other)) EXPECT_EQ(count_word(ex[other], token), 0);
        const int c = count_word(ex[field], token);
        ASSERT_LE(c, 1);
        const bool is_flipped = flipped.count(ex["id"].get<std::string>()) > 0;
        if (ex["label"] == label && !is_flipped) ++eligible;
        if (c == 1) {
          EXPECT_EQ(ex["label"], label) << ex.dump();
          EXPECT_FALSE(is_flipped) << ex.dump();
          ++found[split];
        }
      }
      if (std::string(split) != "test") {  // binomial around rate * eligible
        EXPECT_NEAR(double(found[split]) / double(eligible), 0.25, 0.05) << task << " " << split;
      }
    }
    EXPECT_EQ(found["train"], art["count"].get<std::int64_t>());
    EXPECT_EQ(found["train"], s.artifact_train);
    EXPECT_EQ(found["dev"], art["counts"]["dev"].get<std::int64_t>());
    EXPECT_EQ(found["dev"], s.artifact_dev);
    EXPECT_EQ(found["test"], 0);
    EXPECT_GT(found["train"], 0);
  }
}

// The grammar never produces any artifact candidate on its own.
TEST(Synth, ArtifactTokensNeverOccurNaturally) {
  std::set<std::string> candidates = {"nobody"};
  for (std::uint64_t seed = 1; seed <= 24; ++seed) {
    TempDir d("natural");
    SynthOptions o = options(d.str(), "sentiment", 1);
    o.seed = seed;
    o.dev_fraction = o.test_fraction = 0;
    candidates.insert(synthesize(o).artifact_token);
  }
  EXPECT_GE(candidates.size(), 4u);  // the seed picks among several names
  for (const char* task : {"sentiment", "nli"}) {
    TempDir d(std::string("natural_") + task);
    SynthOptions o = options(d.str(), task, 20000);
    o.classes = std::string(task) == "sentiment" ? 5 : 3;
    synthesize(o);
    for (const auto& ex : read_jsonl(d.file("train.jsonl")))
      for (const char* f : {"text", "text_pair"})
        if (ex.contains(f))
          for (const auto& w : words(ex[f])) EXPECT_EQ(candidates.count(w), 0u) << w;
  }
}

TEST(Synth, OptionValidation) {
  // Each case breaks one option of otherwise valid options; the UsageError
  // must name that option.
  struct Case {
    const char* option;
    void (*set)(SynthOptions&);
  } cases[] = {
      {"task", [](SynthOptions& o) { o.task = "ner"; }},
      {"n", [](SynthOptions& o) { o.n = 0; }},
      {"artifact_rate", [](SynthOptions& o) { o.artifact_rate = 1.5; }},
      {"flip_rate", [](SynthOptions& o) { o.flip_rate = -0.1; }},
      {"flip_rate", [](SynthOptions& o) { o.flip_rate = std::nan(""); }},
      {"dev_fraction", [](SynthOptions& o) { o.dev_fraction = 2; }},
      {"test_fraction", [](SynthOptions& o) { o.test_fraction = -1; }},
      {"classes", [](SynthOptions& o) { o.classes = 4; }},
      {"classes", [](SynthOptions& o) { o.task = "nli", o.classes = 2; }},
  };
  for (const Case& c : cases) {
    SynthOptions o;
    o.out_dir = "/nonexistent-never-created";
    c.set(o);
    try {
      fathom::data::validate(o);
      ADD_FAILURE() << "no error for " << c.option;
    } catch (const fathom::UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("'" + std::string(c.option) + "'"), std::string::npos) << e.what();
    }
  }
  SynthOptions o;
  EXPECT_THROW(synthesize(o), fathom::UsageError);  // empty out_dir
  o.task = "nli";
  o.classes = 3;
  o.out_dir = "x";
  EXPECT_NO_THROW(fathom::data::validate(o));
  EXPECT_EQ(fathom::data::synth_labels("sentiment", 0), (std::vector<std::string>{"negative", "positive"}));
}

// A large run: every line is written and every flip recorded once.
TEST(Synth, LargeRunCompletes) {
  TempDir d("large");
  SynthOptions o = options(d.str(), "sentiment", 200000);
  o.artifact_rate = o.flip_rate = 0.1;
  SynthSummary s = synthesize(o);
  EXPECT_EQ(s.flipped, 20000);
  const std::string train = fathom::read_file(s.train.path);
  EXPECT_EQ(std::count(train.begin(), train.end(), '\n'), 200000);
  std::set<std::string> flipped_ids;
  const json truth = json::parse(fathom::read_file(s.truth_path));
  for (const auto& f : truth["flipped"]) flipped_ids.insert(f["id"].get<std::string>());
  EXPECT_EQ(flipped_ids.size(), 20000u);
}

// Pins the generator's output. If this fails after an intended grammar or PRNG
// change, bump "grammar_version" in synth.cpp and update the hashes: corpora
// made by different versions from the same seed are not the same corpus.
TEST(Synth, GoldenOutput) {
  const std::pair<const char*, const char*> golden[] = {
      {"sentiment", "970f15de530493e713fc7f900ed26dd68922735ba8f1be74bd326e557ddfa710"},
      {"nli", "1479b62feb795128c01ecc4d328a24deec970c17c6679fd801d6f4963f78c985"},
  };
  for (const auto& [task, hash] : golden) {
    TempDir d(std::string("golden_") + task);
    SynthOptions o = options(d.str(), task, 200);
    o.artifact_rate = 0.2;
    o.flip_rate = 0.1;
    SynthSummary s = synthesize(o);
    EXPECT_EQ(fathom::sha256_file(s.train.path), hash) << task;
  }
}
