// Universal triggers: batched search == the one-candidate-per-pass reference,
// reported losses == losses recomputed from the written texts, length 1 ==
// an exhaustive search over the vocabulary, the planted artifact found, and
// the refusals.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "attack/attack_fixture.h"
#include "fathom/attack/triggers.h"
#include "fathom/core/error.h"
#include "temp_dir.h"

namespace {

namespace attack = fathom::attack;
namespace data = fathom::data;
namespace model = fathom::model;
using namespace fathom::attack::testing;

struct Fixture {
  fathom::testing::TempDir dir{"attack_triggers"};
  std::unique_ptr<fathom::comm::Communicator> comm = fathom::comm::make_communicator("local");
  Corpus corpus;
  std::string model_dir;
  model::Bundle bundle;
  std::vector<data::Example> train, test;
  Fixture() {
    corpus = make_corpus(dir.path(), *comm, "sentiment", 1500);
    model_dir = train_model(corpus, dir.path() / "boe", ModelSpec{}, *comm);
    bundle = model::load_bundle(model_dir);
    train = read_examples(corpus.train);
    test = read_examples(corpus.test);
  }
};

Fixture& fx() {
  static Fixture f;
  return f;
}

attack::TriggerConfig small_config(const std::string& target) {
  attack::TriggerConfig c;
  c.target = target;
  c.length = 2;
  c.candidates = 10;
  c.batch = 24;
  c.iterations = 3;
  c.seed = 11;
  return c;
}

TEST(Triggers, BatchedEqualsReference) {
  auto& f = fx();
  for (std::int64_t beam : {1, 2}) {
    attack::TriggerConfig c = small_config(f.corpus.artifact_label);
    c.beam = beam;
    c.candidates = 30;
    c.pass_rows = 100;  // at most 4 candidates per pass
    const attack::TriggerSearch batched = attack::search_trigger(f.bundle, f.train, c, *f.comm);
    c.reference = true;
    const attack::TriggerSearch reference = attack::search_trigger(f.bundle, f.train, c, *f.comm);
    EXPECT_EQ(batched.ids, reference.ids) << "beam " << beam;
    ASSERT_EQ(batched.iterations.size(), reference.iterations.size());
    for (std::size_t i = 0; i < batched.iterations.size(); ++i) {
      EXPECT_NEAR(batched.iterations[i].loss, reference.iterations[i].loss, 1e-5);
      EXPECT_NEAR(batched.iterations[i].loss_before, reference.iterations[i].loss_before, 1e-5);
      EXPECT_EQ(batched.iterations[i].ids, reference.iterations[i].ids);
      EXPECT_EQ(batched.iterations[i].evaluated, reference.iterations[i].evaluated);
    }
    EXPECT_LT(batched.forward_passes, reference.forward_passes);
    EXPECT_EQ(batched.forward_rows, reference.forward_rows);
  }
}

// The examples of iteration 1: the first `batch` of the seeded permutation of
// the non-target examples (triggers.h), independently selected here.
std::vector<data::Example> first_batch(const Fixture& f, const attack::TriggerConfig& c) {
  std::vector<data::Example> pool;
  for (const auto& e : f.train)
    if (e.label && *e.label != *c.target) pool.push_back(e);
  const std::vector<std::int64_t> order = model::epoch_permutation(std::int64_t(pool.size()), c.seed, 1);
  std::vector<data::Example> batch;
  for (std::int64_t i = 0; i < c.batch; ++i) batch.push_back(pool[std::size_t(order[std::size_t(i)])]);
  return batch;
}

TEST(Triggers, ReportedLossesAreTrueLossesOfTheWrittenTrigger) {
  auto& f = fx();
  attack::TriggerConfig c = small_config(f.corpus.artifact_label);
  c.iterations = 1;
  const attack::TriggerSearch s = attack::search_trigger(f.bundle, f.train, c, *f.comm);
  ASSERT_EQ(s.iterations.size(), 1u);
  const std::int64_t target = f.bundle.label_index(*c.target);
  const std::vector<data::Example> batch = first_batch(f, c);
  // Before: "the the" written in front of every text; after: the trigger's text.
  EXPECT_NEAR(s.iterations[0].loss_before, mean_loss(f.bundle, prefixed(batch, "the the"), target), 1e-5);
  EXPECT_NEAR(s.iterations[0].loss, mean_loss(f.bundle, prefixed(batch, s.text), target), 1e-5);
  EXPECT_LE(s.iterations[0].loss, s.iterations[0].loss_before);
  EXPECT_EQ(s.init_ids, (std::vector<std::int64_t>(2, f.bundle.tokenizer->token_to_id("the"))));
}

TEST(Triggers, LengthOneEqualsExhaustiveSearch) {
  auto& f = fx();
  attack::TriggerConfig c = small_config(f.corpus.artifact_label);
  c.length = 1;
  c.iterations = 1;
  c.candidates = f.bundle.model->vocab_size();  // every token is a candidate
  const attack::TriggerSearch s = attack::search_trigger(f.bundle, f.train, c, *f.comm);
  const std::int64_t target = f.bundle.label_index(*c.target);
  const std::vector<data::Example> batch = first_batch(f, c);
  const data::Tokenizer& tok = *f.bundle.tokenizer;
  double best = mean_loss(f.bundle, prefixed(batch, "the"), target);
  std::string best_token = "the";
  for (std::int64_t id = 5; id < tok.vocab_size(); ++id) {
    const std::string& t = tok.id_to_token(id);
    if (t.front() == '[') continue;
    const double l = mean_loss(f.bundle, prefixed(batch, t), target);
    if (l < best - 1e-9) {
      best = l;
      best_token = t;
    }
  }
  ASSERT_EQ(s.tokens.size(), 1u);
  EXPECT_EQ(s.tokens[0], best_token);
  EXPECT_NEAR(s.iterations[0].loss, best, 1e-5);
}

TEST(Triggers, PlantedArtifactIsFoundOrFlipsHeldOut) {
  auto& f = fx();
  attack::TriggerConfig c;
  c.target = f.corpus.artifact_label;
  c.length = 1;
  c.batch = 64;
  c.iterations = 10;
  const attack::TriggerSearch s = attack::search_trigger(f.bundle, f.train, c, *f.comm);
  const attack::TriggerEval e = attack::evaluate_trigger(f.bundle, f.test, s.ids, c, *f.comm);
  ASSERT_TRUE(e.flip_rate.has_value());
  std::cout << "[ planted  ] artifact '" << f.corpus.artifact << "' -> " << f.corpus.artifact_label
            << "; trigger '" << s.text << "' flips " << *e.flip_rate << " of " << e.flip_base
            << " held-out non-target examples (accuracy " << e.accuracy_before << " -> " << e.accuracy_after << ")\n";
  const bool found = std::find(s.tokens.begin(), s.tokens.end(), f.corpus.artifact) != s.tokens.end();
  EXPECT_TRUE(found || *e.flip_rate >= 0.9) << "trigger '" << s.text << "', flip rate " << *e.flip_rate;
  // The flip rate recomputed from the written texts.
  std::int64_t base = 0, flipped = 0;
  std::vector<data::Example> non_target;
  for (const auto& ex : f.test)
    if (*ex.label != *c.target) non_target.push_back(ex);
  const torch::Tensor pred = plain_logits(f.bundle, prefixed(non_target, s.text)).argmax(1);
  const std::int64_t target = f.bundle.label_index(*c.target);
  for (std::int64_t i = 0; i < pred.size(0); ++i, ++base) flipped += pred[i].item<std::int64_t>() == target;
  EXPECT_EQ(e.flip_base, base);
  EXPECT_NEAR(*e.flip_rate, double(flipped) / double(base), 1e-12);
}

TEST(Triggers, NliHypothesisTriggerFindsThePlantedContradictionArtifact) {
  fathom::testing::TempDir dir("attack_triggers_nli");
  auto comm = fathom::comm::make_communicator("local");
  const Corpus nli = make_corpus(dir.path(), *comm, "nli", 3000);
  model::Bundle b = model::load_bundle(train_model(nli, dir.path() / "boe", ModelSpec{}, *comm));
  attack::TriggerConfig c;
  c.target = "contradiction";
  c.position = attack::TriggerPosition::pair;
  c.length = 1;
  c.iterations = 5;
  const attack::TriggerSearch s = attack::search_trigger(b, read_examples(nli.train), c, *comm);
  const std::vector<data::Example> test = read_examples(nli.test);
  const attack::TriggerEval e = attack::evaluate_trigger(b, test, s.ids, c, *comm);
  ASSERT_TRUE(e.flip_rate.has_value());
  std::cout << "[ planted  ] nli artifact '" << nli.artifact << "': hypothesis trigger '" << s.text << "' -> "
            << "contradiction on " << *e.flip_rate << " of " << e.flip_base << " held-out entailment/neutral pairs\n";
  EXPECT_GE(*e.flip_rate, 0.9);
  // Recomputed from the written pairs: the trigger in front of every hypothesis.
  std::vector<data::Example> others;
  for (const auto& ex : test)
    if (*ex.label != "contradiction") {
      others.push_back(ex);
      others.back().text_pair = s.text + " " + *ex.text_pair;
    }
  const torch::Tensor pred = plain_logits(b, others).argmax(1);
  const double share = pred.eq(b.label_index("contradiction")).to(torch::kDouble).mean().item<double>();
  EXPECT_NEAR(*e.flip_rate, share, 1e-12);
}

TEST(Triggers, UntargetedLowersAccuracy) {
  auto& f = fx();
  attack::TriggerConfig c = small_config("");
  c.target.reset();
  c.iterations = 4;
  const attack::TriggerSearch s = attack::search_trigger(f.bundle, f.train, c, *f.comm);
  ASSERT_FALSE(s.iterations.empty());
  EXPECT_LT(s.iterations.front().loss, 0.0);  // −CE
  EXPECT_LE(s.iterations.front().loss, s.iterations.front().loss_before);
  const attack::TriggerEval e = attack::evaluate_trigger(f.bundle, f.test, s.ids, c, *f.comm);
  EXPECT_LE(e.accuracy_after, e.accuracy_before);
}

TEST(Triggers, RefusesBadInput) {
  auto& f = fx();
  attack::TriggerConfig c = small_config("no-such-label");
  EXPECT_THROW(attack::search_trigger(f.bundle, f.train, c, *f.comm), fathom::UsageError);
  c = small_config(f.corpus.artifact_label);
  c.length = 0;
  EXPECT_THROW(attack::search_trigger(f.bundle, f.train, c, *f.comm), fathom::UsageError);
  c.length = 11;
  EXPECT_THROW(attack::search_trigger(f.bundle, f.train, c, *f.comm), fathom::UsageError);
  // Only examples that already have the target label.
  c = small_config(f.corpus.artifact_label);
  std::vector<data::Example> only_target;
  for (const auto& e : f.train)
    if (*e.label == *c.target) only_target.push_back(e);
  try {
    attack::search_trigger(f.bundle, only_target, c, *f.comm);
    ADD_FAILURE() << "no error";
  } catch (const fathom::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no example to attack"), std::string::npos) << e.what();
  }
  // An init of the wrong length, position pair without pairs.
  c.init = "the";
  EXPECT_THROW(attack::search_trigger(f.bundle, f.train, c, *f.comm), fathom::UsageError);
  c.init.clear();
  c.position = attack::TriggerPosition::pair;
  EXPECT_THROW(attack::search_trigger(f.bundle, f.train, c, *f.comm), fathom::UsageError);
}

TEST(Triggers, RefusesVocabularyOfSpecialsOnly) {
  auto& f = fx();
  model::TrainOptions t;
  t.corpus = f.corpus.train;
  t.out_dir = f.dir.file("specials-only");
  t.vocab = f.dir.file("specials-vocab.txt");  // [PAD] [UNK] [CLS] [SEP] [MASK] only
  std::ofstream(t.vocab) << "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
  t.embedding_dim = t.hidden_dim = 4;
  t.epochs = 1;
  t.resume = false;
  model::train_model(t, *f.comm);
  model::Bundle b = model::load_bundle(t.out_dir);
  ASSERT_EQ(b.tokenizer->vocab_size(), 5);
  try {
    attack::search_trigger(b, f.train, small_config(f.corpus.artifact_label), *f.comm);
    ADD_FAILURE() << "no error";
  } catch (const fathom::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no token an attack may write"), std::string::npos) << e.what();
  }
}

}  // namespace
