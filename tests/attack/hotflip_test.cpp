// HotFlip on a BiLSTM (word) and a Transformer (wordpiece): success on
// correctly classified synth test examples within 3 flips, every emitted text
// re-evaluated through the ordinary batching path, the first flip against an
// independent autograd + explicit (e_w − e_i)·g_i computation, batch == one
// by one, targeted attacks, refusals.
#include <gtest/gtest.h>

#include <algorithm>

#include "attack/attack_fixture.h"
#include "fathom/attack/hotflip.h"
#include "fathom/core/error.h"

namespace {

namespace attack = fathom::attack;
namespace data = fathom::data;
namespace model = fathom::model;
using namespace fathom::attack::testing;

struct Models {
  model::Bundle& bilstm = SharedModels::get().bundle({"bilstm", "word", 3});
  model::Bundle& transformer = SharedModels::get().bundle({"transformer", "wordpiece", 4});
  std::vector<data::Example>& test = SharedModels::get().test;
};

Models& models() {
  static Models m;
  return m;
}

// Every result re-evaluated from its adversarial text alone.
void expect_texts_reproduce(model::Bundle& b, const std::vector<data::Example>& examples,
                            const std::vector<attack::HotFlipResult>& results,
                            std::optional<std::int64_t> target = std::nullopt) {
  std::vector<data::Example> adversarial = examples;
  for (std::size_t i = 0; i < examples.size(); ++i) {
    adversarial[i].text = results[i].adversarial_text;
    adversarial[i].text_pair = results[i].adversarial_text_pair;
  }
  const torch::Tensor probs = torch::softmax(plain_logits(b, adversarial), 1);
  const torch::Tensor original = torch::softmax(plain_logits(b, examples), 1);
  for (std::size_t i = 0; i < examples.size(); ++i) {
    const auto& r = results[i];
    const auto row = std::int64_t(i);
    const data::Encoding enc = b.tokenizer->encode(r.adversarial_text, std::nullopt, b.info.max_length);
    EXPECT_EQ(enc.ids, r.ids_after) << r.id << ": '" << r.adversarial_text << "' does not tokenize to the attacked ids";
    EXPECT_EQ(r.label_before, original[row].argmax().item<std::int64_t>()) << r.id;
    EXPECT_EQ(r.label_after, probs[row].argmax().item<std::int64_t>()) << r.id;
    for (std::int64_t c = 0; c < probs.size(1); ++c) {
      EXPECT_NEAR(r.probs_after[std::size_t(c)], probs[row][c].item<double>(), 1e-5) << r.id;
      EXPECT_NEAR(r.probs_before[std::size_t(c)], original[row][c].item<double>(), 1e-5) << r.id;
    }
    EXPECT_EQ(r.success, target ? r.label_after == *target : r.label_after != r.label_before) << r.id;
    // The ids differ exactly at the flipped positions, each flipped once.
    ASSERT_EQ(r.ids_after.size(), r.ids_before.size());
    std::vector<std::int64_t> changed;
    for (std::size_t t = 0; t < r.ids_after.size(); ++t)
      if (r.ids_after[t] != r.ids_before[t]) changed.push_back(std::int64_t(t));
    std::vector<std::int64_t> flipped;
    for (const auto& f : r.flips) {
      flipped.push_back(f.position);
      EXPECT_EQ(r.ids_after[std::size_t(f.position)], f.new_id);
      EXPECT_EQ(r.ids_before[std::size_t(f.position)], f.old_id);
    }
    std::sort(flipped.begin(), flipped.end());
    EXPECT_EQ(changed, flipped) << r.id;
    if (!r.flips.empty()) {
      EXPECT_EQ(r.flips.back().probs, r.probs_after);
    }
  }
}

double success_on_correct(model::Bundle& b, const std::vector<data::Example>& test, const std::string& name) {
  attack::HotFlipConfig c;
  c.max_flips = 3;
  const std::vector<attack::HotFlipResult> results = attack::hotflip(b, test, c);
  expect_texts_reproduce(b, test, results);
  std::int64_t correct = 0, flipped = 0;
  double flips = 0;
  for (const auto& r : results) {
    EXPECT_LE(r.flips.size(), 3u);
    if (!r.gold || *r.gold != r.label_before) continue;
    ++correct;
    if (r.success) {
      ++flipped;
      flips += double(r.flips.size());
    }
  }
  const double rate = correct > 0 ? double(flipped) / double(correct) : 0.0;
  std::cout << "[ hotflip  ] " << name << ": " << flipped << " of " << correct
            << " correctly classified test examples flipped within 3 flips (" << rate << "), "
            << (flipped ? flips / double(flipped) : 0.0) << " flips per success\n";
  EXPECT_GT(correct, std::int64_t(test.size()) / 2);
  return rate;
}

TEST(HotFlip, BiLstmFlipsMostCorrectlyClassifiedWithinThreeFlips) {
  auto& m = models();
  EXPECT_GE(success_on_correct(m.bilstm, m.test, "bilstm"), 0.5);
}

TEST(HotFlip, TransformerWordpieceFlipsMostCorrectlyClassifiedWithinThreeFlips) {
  auto& m = models();
  EXPECT_GE(success_on_correct(m.transformer, m.test, "transformer"), 0.5);
}

// `text` with bytes [b, e) replaced by token (## dropped).
std::string splice(const std::string& text, std::int32_t b, std::int32_t e, std::string token) {
  if (token.rfind("##", 0) == 0) token = token.substr(2);
  return text.substr(0, std::size_t(b)) + token + text.substr(std::size_t(e));
}

TEST(HotFlip, FirstFlipIsLargestGradientNormAndBestFirstOrderScore) {
  auto& m = models();
  for (model::Bundle* b : {&m.bilstm, &m.transformer}) {
    attack::HotFlipConfig c;
    c.max_flips = 1;
    const std::vector<data::Example> some(m.test.begin(), m.test.begin() + 8);
    const auto results = attack::hotflip(*b, some, c);
    const data::Tokenizer& tok = *b->tokenizer;
    const torch::Tensor table = b->model->embedding_matrix().detach().to(torch::kDouble);
    for (std::size_t i = 0; i < some.size(); ++i) {
      const data::Encoding enc = tok.encode(some[i].text, std::nullopt, b->info.max_length);
      const torch::Tensor ids = torch::tensor(enc.ids, torch::kLong).unsqueeze(0);
      const torch::Tensor mask = torch::ones_like(ids);
      // Independent gradient: plain autograd through the model, in double.
      torch::Tensor emb = b->model->embed(ids).detach().requires_grad_(true);
      const torch::Tensor logits = b->model->forward_from_embeddings(emb, mask, torch::zeros_like(ids)).logits;
      const std::int64_t y0 = logits.argmax(1).item<std::int64_t>();
      const torch::Tensor loss = -torch::log_softmax(logits, 1)[0][y0];
      const torch::Tensor g = torch::autograd::grad({loss}, {emb})[0][0].to(torch::kDouble);
      const torch::Tensor e = emb.detach()[0].to(torch::kDouble);
      // Positions by gradient norm (largest first, specials never); at each, the
      // max_candidates best (e_w − e_pos)·g_pos replacements in order; the first whose
      // written text re-tokenises is the flip.
      std::vector<std::pair<double, std::int64_t>> positions;
      for (std::size_t t = 0; t < enc.ids.size(); ++t)
        if (!enc.special[t]) positions.emplace_back(-g[std::int64_t(t)].norm().item<double>(), std::int64_t(t));
      std::sort(positions.begin(), positions.end());
      std::int64_t pos = -1, expected = -1;
      for (const auto& [neg_norm, p] : positions) {
        std::vector<std::pair<double, std::int64_t>> scored;
        for (std::int64_t w = 0; w < tok.vocab_size(); ++w) {
          const std::string& t = tok.id_to_token(w);
          if (t.front() == '[' || w == enc.ids[std::size_t(p)]) continue;
          scored.emplace_back(-((table[w] - e[p]) * g[p]).sum().item<double>(), w);
        }
        std::sort(scored.begin(), scored.end());
        scored.resize(std::min<std::size_t>(scored.size(), std::size_t(c.max_candidates)));
        for (const auto& [score, w] : scored) {
          const std::string text =
              splice(some[i].text, enc.begin[std::size_t(p)], enc.end[std::size_t(p)], tok.id_to_token(w));
          std::vector<std::int64_t> want = enc.ids;
          want[std::size_t(p)] = w;
          if (tok.encode(text, std::nullopt, b->info.max_length).ids == want) {
            expected = w;
            break;
          }
        }
        if (expected >= 0) {
          pos = p;
          break;
        }
      }
      const auto& r = results[i];
      ASSERT_EQ(r.label_before, y0);
      ASSERT_EQ(r.flips.size(), 1u) << r.id;
      EXPECT_EQ(r.flips[0].position, pos) << r.id;
      EXPECT_EQ(r.flips[0].new_id, expected) << r.id << ": " << r.flips[0].new_token << " vs " << tok.id_to_token(expected);
    }
  }
}

TEST(HotFlip, BatchEqualsOneByOneAndTargetedReachesTarget) {
  auto& m = models();
  attack::HotFlipConfig c;
  c.max_flips = 3;
  const std::vector<data::Example> some(m.test.begin(), m.test.begin() + 12);
  const auto batch = attack::hotflip(m.bilstm, some, c);
  for (std::size_t i = 0; i < some.size(); ++i) {
    const attack::HotFlipResult one = attack::hotflip(m.bilstm, some[i], c);
    EXPECT_EQ(one.ids_after, batch[i].ids_after) << one.id;
    EXPECT_EQ(one.adversarial_text, batch[i].adversarial_text) << one.id;
    EXPECT_EQ(one.success, batch[i].success) << one.id;
  }
  c.target = m.bilstm.info.labels[0];
  const auto targeted = attack::hotflip(m.bilstm, some, c);
  expect_texts_reproduce(m.bilstm, some, targeted, 0);
  std::int64_t reached = 0;
  for (const auto& r : targeted) reached += r.success;
  EXPECT_GT(reached, 0);
}

TEST(HotFlip, RefusesBadConfig) {
  attack::HotFlipConfig c;
  model::Bundle& boe = SharedModels::get().bundle({"boe", "word", 4});
  const auto& test = SharedModels::get().test;
  c.target = "no-such-label";
  EXPECT_THROW(attack::hotflip(boe, test, c), fathom::UsageError);
  c.target.reset();
  c.max_flips = 0;
  EXPECT_THROW(attack::hotflip(boe, test, c), fathom::UsageError);
}

}  // namespace
