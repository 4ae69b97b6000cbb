// The per-layer (a, δ) stream against plain autograd, one example at a time
// and unpadded, for every built-in architecture in float64.
#include <gtest/gtest.h>

#include <map>
#include <tuple>

#include "fathom/core/error.h"
#include "fathom/grads/layer_stream.h"
#include "grads/grads_fixtures.h"
#include "model/builtin_fixtures.h"

namespace fathom::grads {
namespace {

using testing::double_model;
using testing::rel_err;

using Key = std::tuple<int, int, int>;  // kind, weight, bias
Key key_of(model::TapKind kind, int w, int b) { return {int(kind), w, b}; }

struct Rows {
  std::vector<torch::Tensor> a, delta;  // one [in] / [out] (or id) row per real position, in call order
};

// The stream's rows of example b, padding rows dropped.
std::map<Key, Rows> stream_rows(const LayerStream& s, std::int64_t b) {
  std::map<Key, Rows> out;
  for (const auto& r : s.records) {
    Rows& rows = out[key_of(r.kind, r.weight, r.bias)];
    for (std::int64_t t = 0; t < r.delta.size(1); ++t) {
      if (!r.valid[b][t].item<bool>()) continue;
      rows.a.push_back(r.a[b][t]);
      rows.delta.push_back(r.delta[b][t]);
    }
  }
  return out;
}

// The reference: example b alone and unpadded, its own tapped forward, and
// autograd::grad of its loss w.r.t. each recorded output.
std::map<Key, Rows> reference_rows(model::Model& m, const ParamLayout& layout, const model::Batch& batch,
                                   std::int64_t b, std::int64_t label) {
  torch::AutoGradMode on(true);
  model::Batch one = testing::trimmed_row(batch, b);
  model::TapRecorder rec;
  for (const auto& p : layout.params()) rec.watch(p.tensor);
  model::ModelOutput out;
  {
    model::TapScope scope(rec);
    out = m.forward(one);
  }
  auto loss = torch::nn::functional::cross_entropy(out.logits, torch::tensor({label}, torch::kLong));
  std::map<Key, Rows> rows;
  for (const auto& c : rec.calls()) {
    auto g = torch::autograd::grad({loss}, {c.output}, {}, /*retain_graph=*/true, false, /*allow_unused=*/true)[0];
    if (!g.defined()) g = torch::zeros_like(c.output);
    Rows& r = rows[key_of(c.kind, layout.index_of(c.weight), c.bias.defined() ? layout.index_of(c.bias) : -1)];
    auto d = g.reshape({-1, g.size(-1)});
    auto a = c.kind == model::TapKind::embedding ? c.input.reshape({-1}) : c.input.reshape({-1, c.input.size(-1)});
    for (std::int64_t t = 0; t < d.size(0); ++t) {
      r.a.push_back(a[t]);
      r.delta.push_back(d[t].detach());
    }
  }
  return rows;
}

class LayerStreamTest : public ::testing::TestWithParam<std::string> {};

TEST_P(LayerStreamTest, EqualsPlainAutogradPerExampleWithPadding) {
  auto m = double_model(GetParam());
  auto layout = ParamLayout::select(*m, "all");
  auto batch = model::testing::ragged_batch(m->vocab_size(), /*extra_padding=*/2);
  const LayerStream s = layer_stream(*m, layout, batch, batch.labels);
  EXPECT_TRUE(s.untapped.empty());
  EXPECT_TRUE(torch::equal(s.targets, batch.labels));
  for (std::int64_t b = 0; b < batch.size(); ++b) {
    auto got = stream_rows(s, b);
    auto want = reference_rows(*m, layout, batch, b, batch.labels[b].item<std::int64_t>());
    ASSERT_EQ(got.size(), want.size());
    for (auto& [key, w] : want) {
      const Rows& g = got[key];
      ASSERT_EQ(g.a.size(), w.a.size()) << "example " << b << " kind " << std::get<0>(key) << " weight "
                                        << std::get<1>(key);
      auto ga = torch::stack(g.a), wa = torch::stack(w.a);
      auto gd = torch::stack(g.delta), wd = torch::stack(w.delta);
      if (std::get<0>(key) == int(model::TapKind::embedding))
        EXPECT_TRUE(torch::equal(ga, wa));
      else
        EXPECT_LT(rel_err(ga, wa), 1e-10) << "a, example " << b << " weight " << std::get<1>(key);
      if (wd.norm().item<double>() == 0)
        EXPECT_EQ(gd.norm().item<double>(), 0);
      else
        EXPECT_LT(rel_err(gd, wd), 1e-10) << "delta, example " << b << " weight " << std::get<1>(key);
    }
  }
  // Padding rows hold zeros in a (float kinds) and δ.
  for (const auto& r : s.records) {
    auto pad = r.valid.logical_not();
    EXPECT_EQ(r.delta.index({pad}).abs().sum().item<double>(), 0);
    if (r.kind != model::TapKind::embedding) EXPECT_EQ(r.a.index({pad}).abs().sum().item<double>(), 0);
  }
}

// Σ_t δ aᵀ (and Σ_t δ) over a parameter's records is its per-example
// gradient, checked against autograd w.r.t. the parameters themselves.
TEST_P(LayerStreamTest, OuterProductsGiveParameterGradients) {
  auto m = double_model(GetParam());
  auto layout = ParamLayout::select(*m, "all");
  auto batch = model::testing::ragged_batch(m->vocab_size(), 1);
  const LayerStream s = layer_stream(*m, layout, batch, batch.labels);
  auto ref = testing::naive_reference(*m, "all", batch, /*predicted=*/false);
  torch::Tensor got = torch::zeros_like(ref.gradients);
  std::vector<bool> linear(layout.size(), false);
  for (const auto& r : s.records) {
    if (r.kind != model::TapKind::linear) continue;
    if (r.weight >= 0) {
      const auto& p = layout.params()[std::size_t(r.weight)];
      linear[std::size_t(r.weight)] = true;
      got.narrow(1, p.offset, p.numel).add_(torch::bmm(r.delta.transpose(1, 2), r.a).reshape({batch.size(), -1}));
    }
    if (r.bias >= 0) {
      const auto& p = layout.params()[std::size_t(r.bias)];
      linear[std::size_t(r.bias)] = true;
      got.narrow(1, p.offset, p.numel).add_(r.delta.sum(1));
    }
  }
  int checked = 0;
  for (std::size_t i = 0; i < layout.size(); ++i) {
    if (!linear[i]) continue;
    const auto& p = layout.params()[i];
    EXPECT_LT(rel_err(got.narrow(1, p.offset, p.numel), ref.gradients.narrow(1, p.offset, p.numel)), 1e-10) << p.name;
    ++checked;
  }
  EXPECT_GE(checked, 4);
}

INSTANTIATE_TEST_SUITE_P(Builtin, LayerStreamTest, ::testing::ValuesIn(testing::architectures()));

TEST(LayerStream, TargetsFromLogitsAndSubsetLayouts) {
  auto m = double_model("boe");
  auto layout = ParamLayout::select(*m, "classifier.bias,pooler.weight");
  auto batch = model::testing::ragged_batch(m->vocab_size());
  torch::Tensor seen;
  const LayerStream s = layer_stream(*m, layout, batch, [&](const torch::Tensor& logits) {
    seen = logits;
    return logits.argmin(1);
  });
  EXPECT_TRUE(torch::equal(s.targets, seen.argmin(1)));
  EXPECT_TRUE(torch::allclose(seen, m->forward(batch).logits.detach()));
  ASSERT_EQ(s.records.size(), 2u);
  EXPECT_EQ(s.records[0].weight, 0);  // pooler.weight (model order)
  EXPECT_EQ(s.records[0].bias, -1);   // pooler.bias is not selected
  EXPECT_EQ(s.records[1].weight, -1);
  EXPECT_EQ(s.records[1].bias, 1);
  // δ of the classifier is softmax − onehot(target).
  auto want = torch::softmax(seen, 1) - torch::one_hot(s.targets, seen.size(1)).to(torch::kDouble);
  EXPECT_LT(rel_err(s.records[1].delta.squeeze(1), want), 1e-12);
  EXPECT_THROW(layer_stream(*m, layout, batch, torch::tensor({0, 5, 1}, torch::kLong)), UsageError);
  // Parameters outside the layout keep requires_grad.
  for (auto& [name, t] : m->named_parameters()) EXPECT_TRUE(t.requires_grad()) << name;
}

}  // namespace
}  // namespace fathom::grads
