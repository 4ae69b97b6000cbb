// Saliency numerics (saliency.h) against independent computations: Gauss–
// Legendre against known nodes and exact polynomial integrals, gradients
// against central finite differences in float64, IG against an explicit sum
// and its completeness, SmoothGrad determinism, LOO against separate forwards.
#include <gtest/gtest.h>

#include <cmath>

#include "fathom/attrib/saliency.h"
#include "fathom/core/error.h"
#include "saliency/saliency_fixture.h"

namespace {

namespace attrib = fathom::attrib;
using fathom::saliency_testing::id_batch;
using fathom::saliency_testing::logit_of;
using fathom::saliency_testing::tiny_double_model;

const std::vector<std::string> kArchs = {"boe", "bilstm", "transformer"};

TEST(SaliencyQuadrature, GaussLegendreKnownNodes) {
  // Abramowitz & Stegun 25.4.29 on [-1,1], mapped to [0,1].
  attrib::Quadrature q2 = attrib::quadrature(attrib::QuadratureRule::gauss_legendre, 2);
  ASSERT_EQ(q2.alphas.size(), 2u);
  EXPECT_NEAR(q2.alphas[0], 0.5 - 0.5 / std::sqrt(3.0), 1e-15);
  EXPECT_NEAR(q2.alphas[1], 0.5 + 0.5 / std::sqrt(3.0), 1e-15);
  EXPECT_NEAR(q2.weights[0], 0.5, 1e-15);
  attrib::Quadrature q3 = attrib::quadrature(attrib::QuadratureRule::gauss_legendre, 3);
  EXPECT_NEAR(q3.alphas[0], 0.5 - 0.5 * std::sqrt(0.6), 1e-15);
  EXPECT_NEAR(q3.alphas[1], 0.5, 1e-15);
  EXPECT_NEAR(q3.weights[0], 0.5 * 5.0 / 9.0, 1e-15);
  EXPECT_NEAR(q3.weights[1], 0.5 * 8.0 / 9.0, 1e-15);
  // 5 points, A&S: x = 0.906179845938664, w = 0.236926885056189.
  attrib::Quadrature q5 = attrib::quadrature(attrib::QuadratureRule::gauss_legendre, 5);
  EXPECT_NEAR(q5.alphas[4], 0.5 * (1 + 0.906179845938664), 1e-14);
  EXPECT_NEAR(q5.weights[4], 0.5 * 0.236926885056189, 1e-14);
}

TEST(SaliencyQuadrature, GaussLegendreIntegratesPolynomialsExactly) {
  for (std::int64_t m : {1, 7, 50, 64}) {
    attrib::Quadrature q = attrib::quadrature(attrib::QuadratureRule::gauss_legendre, m);
    for (std::int64_t k = 0; k <= 2 * m - 1; ++k) {
      double sum = 0;
      for (std::size_t i = 0; i < q.alphas.size(); ++i) sum += q.weights[i] * std::pow(q.alphas[i], double(k));
      ASSERT_NEAR(sum, 1.0 / double(k + 1), 1e-12) << "m=" << m << " degree " << k;
    }
    for (std::size_t i = 1; i < q.alphas.size(); ++i) EXPECT_LT(q.alphas[i - 1], q.alphas[i]);
  }
}

TEST(SaliencyQuadrature, RiemannRulesAsCaptumDefinesThem) {
  auto left = attrib::quadrature(attrib::QuadratureRule::riemann_left, 4);
  auto right = attrib::quadrature(attrib::QuadratureRule::riemann_right, 4);
  auto mid = attrib::quadrature(attrib::QuadratureRule::riemann_middle, 4);
  auto trap = attrib::quadrature(attrib::QuadratureRule::riemann_trapezoid, 5);
  EXPECT_EQ(left.alphas, (std::vector<double>{0, 0.25, 0.5, 0.75}));
  EXPECT_EQ(right.alphas, (std::vector<double>{0.25, 0.5, 0.75, 1.0}));
  EXPECT_EQ(mid.alphas, (std::vector<double>{0.125, 0.375, 0.625, 0.875}));
  EXPECT_EQ(trap.alphas, (std::vector<double>{0, 0.25, 0.5, 0.75, 1.0}));
  EXPECT_EQ(trap.weights, (std::vector<double>{0.125, 0.25, 0.25, 0.25, 0.125}));
  EXPECT_EQ(left.weights, (std::vector<double>(4, 0.25)));
  EXPECT_THROW(attrib::quadrature(attrib::QuadratureRule::riemann_trapezoid, 1), fathom::UsageError);
  EXPECT_THROW(attrib::quadrature(attrib::QuadratureRule::gauss_legendre, 0), fathom::UsageError);
  EXPECT_THROW(attrib::parse_quadrature_rule("simpson"), fathom::UsageError);
  EXPECT_THROW(attrib::parse_saliency_method("lime"), fathom::UsageError);
}

// ∂F/∂e by central differences over every coordinate of example 0's
// embeddings, through forward_from_embeddings only.
torch::Tensor fd_gradient(fathom::model::Model& m, const fathom::model::Batch& b, std::int64_t target, bool loss) {
  torch::Tensor emb;
  {
    torch::NoGradGuard g;
    emb = m.embed(b.ids.narrow(0, 0, 1)).clone();
  }
  torch::Tensor mask = b.mask.narrow(0, 0, 1), types = b.type_ids.narrow(0, 0, 1);
  auto f = [&](const torch::Tensor& e) {
    torch::NoGradGuard g;
    torch::Tensor logits = m.forward_from_embeddings(e, mask, types).logits;
    if (!loss) return logits[0][target].item<double>();
    return -torch::log_softmax(logits, 1)[0][target].item<double>();
  };
  torch::Tensor grad = torch::zeros_like(emb);
  const double h = 1e-6;
  for (std::int64_t t = 0; t < emb.size(1); ++t)
    for (std::int64_t e = 0; e < emb.size(2); ++e) {
      torch::Tensor p = emb.clone(), q = emb.clone();
      p[0][t][e] += h;
      q[0][t][e] -= h;
      grad[0][t][e] = (f(p) - f(q)) / (2 * h);
    }
  return grad[0];
}

TEST(SaliencyGradients, VanillaAndGradInputMatchFiniteDifferences) {
  for (const std::string& arch : kArchs)
    for (bool loss : {false, true}) {
      auto m = tiny_double_model(arch);
      auto b = id_batch({{2, 7, 11, 5, 3}, {2, 9, 3}});
      torch::Tensor targets = torch::tensor({1, 2}, torch::kLong);
      attrib::SaliencySettings s;
      s.objective = loss ? attrib::Objective::loss : attrib::Objective::logit;
      s.method = attrib::SaliencyMethod::vanilla;
      auto van = attrib::saliency_scores(*m, b, targets, {}, s);
      s.method = attrib::SaliencyMethod::grad_input;
      auto gi = attrib::saliency_scores(*m, b, targets, {}, s);
      torch::Tensor g = fd_gradient(*m, b, 1, loss);
      torch::Tensor emb = m->embed(b.ids.narrow(0, 0, 1))[0].detach();
      for (std::int64_t t = 0; t < 5; ++t) {
        EXPECT_NEAR(van.scores[0][t].item<double>(), g[t].norm().item<double>(), 1e-7) << arch << " t=" << t;
        EXPECT_NEAR(gi.scores[0][t].item<double>(), (g[t] * emb[t]).sum().item<double>(), 1e-7) << arch;
      }
      EXPECT_EQ(van.scores[1][3].item<double>(), 0.0) << "padding scores 0";
    }
}

// Σ_k w_k ∂F/∂e(α_k e) · e with plain autograd, one point at a time.
torch::Tensor explicit_ig(fathom::model::Model& m, const fathom::model::Batch& b, std::int64_t target,
                          const std::vector<double>& alphas, const std::vector<double>& weights) {
  torch::Tensor emb;
  {
    torch::NoGradGuard g;
    emb = m.embed(b.ids.narrow(0, 0, 1)).clone();
  }
  torch::Tensor total = torch::zeros_like(emb);
  for (std::size_t k = 0; k < alphas.size(); ++k) {
    torch::Tensor x = (emb * alphas[k]).detach().requires_grad_(true);
    torch::Tensor f = m.forward_from_embeddings(x, b.mask.narrow(0, 0, 1), b.type_ids.narrow(0, 0, 1)).logits[0][target];
    total += weights[k] * torch::autograd::grad({f}, {x})[0];
  }
  return (total * emb).sum(2)[0];
}

TEST(SaliencyIntegratedGradients, RiemannLeftTenEqualsExplicitSum) {
  for (const std::string& arch : kArchs) {
    auto m = tiny_double_model(arch);
    auto b = id_batch({{2, 7, 11, 5, 3}, {2, 9, 3}});
    attrib::SaliencySettings s;
    s.method = attrib::SaliencyMethod::integrated_gradients;
    s.rule = attrib::QuadratureRule::riemann_left;
    s.steps = 10;
    s.rows_per_pass = 7;  // passes that cut across examples
    auto ig = attrib::saliency_scores(*m, b, torch::tensor({0, 1}, torch::kLong), {}, s);
    std::vector<double> a, w;
    for (int k = 0; k < 10; ++k) a.push_back(k / 10.0), w.push_back(0.1);
    torch::Tensor ref = explicit_ig(*m, b, 0, a, w);
    for (std::int64_t t = 0; t < 5; ++t) EXPECT_NEAR(ig.scores[0][t].item<double>(), ref[t].item<double>(), 1e-12) << arch;
    // The gap is the sum minus F(x) - F(0), with F computed here.
    torch::Tensor emb = m->embed(b.ids.narrow(0, 0, 1)).detach();
    const double fx = logit_of(*m, emb, b.mask.narrow(0, 0, 1), b.type_ids.narrow(0, 0, 1), 0);
    const double f0 = logit_of(*m, torch::zeros_like(emb), b.mask.narrow(0, 0, 1), b.type_ids.narrow(0, 0, 1), 0);
    EXPECT_NEAR(ig.completeness_gap[0].item<double>(), ref.sum().item<double>() - (fx - f0), 1e-12) << arch;
  }
}

TEST(SaliencyIntegratedGradients, CompletenessAtFiftyGaussLegendrePoints) {
  for (const std::string& arch : kArchs)
    for (std::uint64_t seed : {1, 2, 3}) {
      auto m = tiny_double_model(arch, seed);
      auto b = id_batch({{2, 7, 11, 5, 3, 8, 21}, {2, 9, 3}});
      attrib::SaliencySettings s;
      s.method = attrib::SaliencyMethod::integrated_gradients;
      auto ig = attrib::saliency_scores(*m, b, torch::tensor({0, 2}, torch::kLong), {}, s);
      for (int i = 0; i < 2; ++i) {
        const double delta = (ig.objective[i] - ig.baseline_objective[i]).item<double>();
        EXPECT_LE(std::abs(ig.completeness_gap[i].item<double>()), 1e-3 * std::max(1.0, std::abs(delta)))
            << arch << " seed " << seed << " row " << i;
      }
      // Left Riemann converges too, slowly: the gap at 100 points is below the gap at 5.
      s.rule = attrib::QuadratureRule::riemann_left;
      s.steps = 5;
      const double coarse = attrib::saliency_scores(*m, b, torch::tensor({0, 2}, torch::kLong), {}, s)
                                .completeness_gap.abs().sum().item<double>();
      s.steps = 100;
      const double fine = attrib::saliency_scores(*m, b, torch::tensor({0, 2}, torch::kLong), {}, s)
                              .completeness_gap.abs().sum().item<double>();
      EXPECT_LT(fine, coarse) << arch;
    }
}

TEST(SaliencySmoothGrad, SeededAndIndependentOfBatchPosition) {
  auto m = tiny_double_model("transformer");
  attrib::SaliencySettings s;
  s.method = attrib::SaliencyMethod::smoothgrad;
  s.samples = 6;
  s.noise = 0.1;
  s.seed = 42;
  auto b = id_batch({{2, 7, 11, 5, 3}, {2, 9, 3}});
  torch::Tensor targets = torch::tensor({0, 1}, torch::kLong);
  auto a1 = attrib::saliency_scores(*m, b, targets, {}, s);
  auto a2 = attrib::saliency_scores(*m, b, targets, {}, s);
  EXPECT_TRUE(torch::equal(a1.scores, a2.scores)) << "same input and seed, same scores";
  s.seed = 43;
  auto other = attrib::saliency_scores(*m, b, targets, {}, s);
  EXPECT_FALSE(torch::allclose(a1.scores, other.scores)) << "another seed draws other noise";
  // Example 1 alone (no padding, first in its batch) gets the same noise.
  s.seed = 42;
  auto alone = attrib::saliency_scores(*m, id_batch({{2, 9, 3}}), torch::tensor({1}, torch::kLong), {}, s);
  EXPECT_TRUE(torch::allclose(alone.scores[0], a1.scores[1].narrow(0, 0, 3), 1e-10, 1e-12));
  // noise 0: every copy is the input, so SmoothGrad is the vanilla gradient.
  s.noise = 0;
  auto flat = attrib::saliency_scores(*m, b, targets, {}, s);
  attrib::SaliencySettings v;
  auto van = attrib::saliency_scores(*m, b, targets, {}, v);
  EXPECT_TRUE(torch::allclose(flat.scores, van.scores, 1e-10, 1e-12));
}

TEST(SaliencyLeaveOneOut, EqualsSeparateForwards) {
  for (const std::string& arch : kArchs) {
    auto m = tiny_double_model(arch);
    std::vector<std::vector<std::int64_t>> rows = {{2, 7, 11, 5, 3}, {2, 9, 3}};
    auto b = id_batch(rows);
    torch::Tensor special = torch::zeros({2, 5}, torch::kBool);
    special[0][0] = special[0][4] = special[1][0] = special[1][2] = true;  // [CLS] ... [SEP]
    attrib::SaliencySettings s;
    s.method = attrib::SaliencyMethod::loo;
    s.rows_per_pass = 2;
    torch::Tensor targets = torch::tensor({1, 0}, torch::kLong);
    auto loo = attrib::saliency_scores(*m, b, targets, special, s);
    auto prob = [&](const std::vector<std::int64_t>& ids, std::int64_t y) {
      auto one = id_batch({ids});
      torch::NoGradGuard g;
      return torch::softmax(m->forward(one).logits, 1)[0][y].item<double>();
    };
    for (std::size_t r = 0; r < rows.size(); ++r)
      for (std::size_t t = 0; t < rows[r].size(); ++t) {
        const double got = loo.scores[std::int64_t(r)][std::int64_t(t)].item<double>();
        if (special[std::int64_t(r)][std::int64_t(t)].item<bool>()) {
          EXPECT_EQ(got, 0.0);
          continue;
        }
        std::vector<std::int64_t> without = rows[r];
        without.erase(without.begin() + std::ptrdiff_t(t));
        const std::int64_t y = targets[std::int64_t(r)].item<std::int64_t>();
        EXPECT_NEAR(got, prob(rows[r], y) - prob(without, y), 1e-12) << arch << " row " << r << " token " << t;
      }
  }
}

TEST(SaliencySettings, RefusesBadValues) {
  auto m = tiny_double_model("boe");
  auto b = id_batch({{2, 7, 3}});
  attrib::SaliencySettings s;
  s.method = attrib::SaliencyMethod::smoothgrad;
  s.samples = 0;
  EXPECT_THROW(attrib::saliency_scores(*m, b, torch::tensor({0}, torch::kLong), {}, s), fathom::UsageError);
  s.samples = 2;
  s.noise = -1;
  EXPECT_THROW(attrib::saliency_scores(*m, b, torch::tensor({0}, torch::kLong), {}, s), fathom::UsageError);
  s.noise = 0.01;
  EXPECT_THROW(attrib::saliency_scores(*m, b, torch::tensor({0, 1}, torch::kLong), {}, s), fathom::UsageError);
}

}  // namespace
