// Input reduction: every reported step re-evaluated keeps the prediction with
// the reported confidence; with beam 1 each removed token is the minimum-
// saliency one of an independent autograd recomputation and the search stops
// exactly when that removal would change the prediction; batch == one by one.
#include <gtest/gtest.h>

#include <algorithm>

#include "attack/attack_fixture.h"
#include "fathom/attack/reduce.h"
#include "fathom/core/error.h"

namespace {

namespace attack = fathom::attack;
namespace data = fathom::data;
namespace model = fathom::model;
using namespace fathom::attack::testing;

struct Fixture {
  model::Bundle& boe = SharedModels::get().bundle({"boe", "word", 4});
  model::Bundle& bilstm = SharedModels::get().bundle({"bilstm", "word", 3});
  std::vector<data::Example> test{SharedModels::get().test.begin(), SharedModels::get().test.begin() + 16};
};

Fixture& fx() {
  static Fixture f;
  return f;
}

// Probabilities of one id sequence (single text, no padding), computed here.
torch::Tensor probs_of(model::Bundle& b, const std::vector<std::int64_t>& ids) {
  torch::NoGradGuard no_grad;
  model::Batch batch;
  batch.ids = torch::tensor(ids, torch::kLong).unsqueeze(0);
  batch.mask = torch::ones_like(batch.ids);
  batch.type_ids = torch::zeros_like(batch.ids);
  return torch::softmax(b.model->forward(batch).logits[0].to(torch::kDouble), 0);
}

// ‖∂CE(y)/∂e_t‖ for every token, by plain autograd.
std::vector<double> saliency_of(model::Bundle& b, const std::vector<std::int64_t>& ids, std::int64_t y) {
  const torch::Tensor t = torch::tensor(ids, torch::kLong).unsqueeze(0);
  torch::Tensor emb = b.model->embed(t).detach().requires_grad_(true);
  const torch::Tensor logits = b.model->forward_from_embeddings(emb, torch::ones_like(t), torch::zeros_like(t)).logits;
  const torch::Tensor loss = -torch::log_softmax(logits, 1)[0][y];
  const torch::Tensor g = torch::autograd::grad({loss}, {emb})[0][0].to(torch::kDouble).norm(2, 1);
  return std::vector<double>(g.data_ptr<double>(), g.data_ptr<double>() + g.numel());
}

// Replays the removals of `r` on its original ids (by original position).
void expect_path_replays(model::Bundle& b, const attack::ReduceResult& r) {
  std::vector<std::int64_t> ids = r.ids_before, origin(ids.size());
  for (std::size_t i = 0; i < origin.size(); ++i) origin[i] = std::int64_t(i);
  EXPECT_NEAR(probs_of(b, ids)[r.label].item<double>(), r.confidence_before, 1e-5);
  EXPECT_EQ(probs_of(b, ids).argmax().item<std::int64_t>(), r.label);
  for (const auto& step : r.removed) {
    const auto at = std::find(origin.begin(), origin.end(), step.position);
    ASSERT_NE(at, origin.end()) << r.id << ": position " << step.position << " removed twice";
    const auto k = std::size_t(at - origin.begin());
    EXPECT_EQ(b.tokenizer->id_to_token(ids[k]), step.token);
    ids.erase(ids.begin() + std::ptrdiff_t(k));
    origin.erase(at);
    const torch::Tensor p = probs_of(b, ids);
    EXPECT_EQ(p.argmax().item<std::int64_t>(), r.label) << r.id << ": a reported step changed the prediction";
    EXPECT_NEAR(p[r.label].item<double>(), step.confidence, 1e-5) << r.id;
  }
  EXPECT_EQ(ids, r.ids_after) << r.id;
}

TEST(Reduce, EveryStepKeepsThePredictionWithItsConfidence) {
  auto& f = fx();
  for (model::Bundle* b : {&f.boe, &f.bilstm}) {
    const auto results = attack::reduce(*b, f.test, attack::ReduceConfig{});
    std::int64_t reduced = 0;
    for (const auto& r : results) {
      expect_path_replays(*b, r);
      reduced += !r.removed.empty();
      EXPECT_EQ(r.reduced_tokens.size() + r.removed.size() + 2, r.ids_before.size());
      // Word tokens joined by spaces tokenize back to what is left.
      EXPECT_EQ(b->tokenizer->encode(r.reduced_text, std::nullopt, 0).ids, r.ids_after) << r.reduced_text;
    }
    EXPECT_GT(reduced, std::int64_t(results.size()) / 2);
  }
}

TEST(Reduce, BeamOneRemovesTheMinimumSaliencyTokenUntilThePredictionWouldChange) {
  auto& f = fx();
  attack::ReduceConfig c;
  c.beam = 1;
  for (model::Bundle* b : {&f.boe, &f.bilstm}) {
    for (const auto& r : attack::reduce(*b, f.test, c)) {
      std::vector<std::int64_t> ids = r.ids_before, origin(ids.size());
      for (std::size_t i = 0; i < origin.size(); ++i) origin[i] = std::int64_t(i);
      auto min_saliency = [&](double* value) {
        const std::vector<double> s = saliency_of(*b, ids, r.label);
        std::size_t best = 1;
        for (std::size_t t = 1; t + 1 < ids.size(); ++t)  // [CLS] and [SEP] are never removed
          if (s[t] < s[best]) best = t;
        *value = s[best];
        return best;
      };
      for (const auto& step : r.removed) {
        double value = 0;
        const std::size_t k = min_saliency(&value);
        EXPECT_EQ(origin[k], step.position) << r.id;
        EXPECT_NEAR(step.saliency, value, 1e-5 + 1e-4 * value) << r.id;
        ids.erase(ids.begin() + std::ptrdiff_t(k));
        origin.erase(origin.begin() + std::ptrdiff_t(k));
      }
      // Stopped: one token left, or the next minimum-saliency removal changes the prediction.
      if (ids.size() > 3) {
        double value = 0;
        const std::size_t k = min_saliency(&value);
        ids.erase(ids.begin() + std::ptrdiff_t(k));
        EXPECT_NE(probs_of(*b, ids).argmax().item<std::int64_t>(), r.label) << r.id << " stopped too early";
      }
    }
  }
}

// A beam of B stops only when no child of any beam entry keeps the
// prediction; in particular the best entry's B least salient removals
// (saliency recomputed here by autograd) must each change it — unless the
// entry is at the minimum length. (A beam that stopped when the first of its
// entries had no surviving child used to end after two removals.)
TEST(Reduce, BeamSearchStopsOnlyWhenTheBestEntrysChildrenAllFlip) {
  auto& f = fx();
  attack::ReduceConfig c;
  c.beam = 3;
  for (model::Bundle* b : {&f.boe, &f.bilstm}) {
    std::int64_t checked = 0, long_reductions = 0;
    for (const auto& r : attack::reduce(*b, f.test, c)) {
      expect_path_replays(*b, r);
      long_reductions += r.removed.size() > 2;
      const std::vector<std::int64_t>& ids = r.ids_after;
      if (ids.size() <= 3) continue;  // [CLS] one token [SEP]: the minimum
      const std::vector<double> s = saliency_of(*b, ids, r.label);
      std::vector<std::pair<double, std::size_t>> order;
      for (std::size_t t = 1; t + 1 < ids.size(); ++t) order.emplace_back(s[t], t);
      std::sort(order.begin(), order.end());
      for (std::size_t k = 0; k < std::min<std::size_t>(order.size(), std::size_t(c.beam)); ++k) {
        std::vector<std::int64_t> child = ids;
        child.erase(child.begin() + std::ptrdiff_t(order[k].second));
        EXPECT_NE(probs_of(*b, child).argmax().item<std::int64_t>(), r.label)
            << r.id << ": removing token " << order[k].second << " keeps the prediction, but the search stopped";
      }
      ++checked;
    }
    EXPECT_GT(long_reductions, 0) << "no example lost more than two tokens";
    (void)checked;
  }
}

TEST(Reduce, BatchEqualsOneByOne) {
  auto& f = fx();
  const auto batch = attack::reduce(f.bilstm, f.test, attack::ReduceConfig{});
  for (std::size_t i = 0; i < f.test.size(); i += 3) {
    const auto one = attack::reduce(f.bilstm, f.test[i], attack::ReduceConfig{});
    EXPECT_EQ(one.ids_after, batch[i].ids_after) << one.id;
    EXPECT_EQ(one.removed.size(), batch[i].removed.size()) << one.id;
  }
}

TEST(Reduce, RefusesBadConfig) {
  model::Bundle& boe = SharedModels::get().bundle({"boe", "word", 4});
  const auto& test = SharedModels::get().test;
  attack::ReduceConfig c;
  c.beam = 0;
  EXPECT_THROW(attack::reduce(boe, test, c), fathom::UsageError);
  c.beam = 1;
  c.min_tokens = 0;
  EXPECT_THROW(attack::reduce(boe, test, c), fathom::UsageError);
}

}  // namespace
