// Random projections (grads/projection.h, METHODS.md §1.6): spec parsing,
// determinism, linearity, JL unbiasedness and its 1/√k error, the LoGra
// Kronecker structure, and projected per-example gradients.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "fathom/core/error.h"
#include "fathom/grads/param_layout.h"
#include "fathom/grads/per_example.h"
#include "fathom/grads/projection.h"
#include "grads/grads_fixtures.h"

namespace fathom::grads {
namespace {

using testing::double_model;
using testing::rel_err;

ProjectionSpec spec_of(const std::string& kind, std::int64_t k, std::uint64_t seed) {
  ProjectionSpec s;
  s.kind = kind;
  s.dim = k;
  s.seed = seed;
  return s;
}

// Random [B,D] in double from a private generator (independent of the global seed).
torch::Tensor random_rows(std::int64_t B, std::int64_t D, std::uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::randn({B, D}, gen, torch::TensorOptions().dtype(torch::kDouble));
}

// ------------------------------------------------------------------ spec

TEST(ProjectionSpec, ParsesValidSpecs) {
  auto none = parse_projection_spec("none");
  EXPECT_EQ(none.kind, "none");
  EXPECT_EQ(none.text(), "none");

  struct Case {
    const char* text;
    const char* kind;
    std::int64_t dim;
    std::uint64_t seed;
  };
  for (const Case& c : {Case{"gaussian:16:7", "gaussian", 16, 7}, Case{"rademacher:8:1", "rademacher", 8, 1},
                        Case{"logra:4:3", "logra", 4, 3}}) {
    SCOPED_TRACE(c.text);
    const auto s = parse_projection_spec(c.text);
    EXPECT_EQ(s.kind, c.kind);
    EXPECT_EQ(s.dim, c.dim);
    EXPECT_EQ(s.seed, c.seed);
    EXPECT_EQ(s.text(), c.text);
    // text() round-trips.
    const auto again = parse_projection_spec(s.text());
    EXPECT_EQ(again.kind, s.kind);
    EXPECT_EQ(again.dim, s.dim);
    EXPECT_EQ(again.seed, s.seed);
  }
}

TEST(ProjectionSpec, RejectsBadSpecs) {
  for (const char* bad : {"gauss:1:2", "gaussian:0:1", "gaussian:x:1", "gaussian:4"}) {
    try {
      parse_projection_spec(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << "names the spec: " << e.what();
    }
  }
}

// ----------------------------------------------------------- make_projector

class ProjectorOnBoe : public ::testing::Test {
 protected:
  void SetUp() override {
    model = double_model("boe");
    all = ParamLayout::select(*model, "all");
    head = ParamLayout::select(*model, "classifier");
  }
  std::shared_ptr<model::Model> model;
  ParamLayout all, head;  // D = 259 and D = 21
};

TEST_F(ProjectorOnBoe, LayoutSizesAreWhatTheTestsAssume) {
  EXPECT_EQ(head.dim(), 21);
  EXPECT_GT(all.dim(), 256);
  EXPECT_LT(all.dim(), 1000);
}

TEST_F(ProjectorOnBoe, NoneIsNullAndKAtLeastDIsAUsageError) {
  EXPECT_EQ(make_projector(parse_projection_spec("none"), head), nullptr);
  for (const char* bad : {"gaussian:21:1", "gaussian:50:1", "rademacher:21:1", "logra:100:1"})
    EXPECT_THROW(make_projector(parse_projection_spec(bad), head), UsageError) << bad;
  EXPECT_THROW(make_projector(spec_of("gaussian", 0, 1), head), UsageError);
  EXPECT_THROW(make_projector(spec_of("sparse", 4, 1), head), UsageError);

  for (const char* good : {"gaussian:20:1", "rademacher:5:2"}) {
    auto spec = parse_projection_spec(good);
    auto p = make_projector(spec, head);
    ASSERT_NE(p, nullptr) << good;
    EXPECT_EQ(p->input_dim(), 21);
    EXPECT_EQ(p->output_dim(), spec.dim);
    EXPECT_EQ(p->spec().text(), good);
  }
}

TEST_F(ProjectorOnBoe, ShapesAndDtypes) {
  for (const char* text : {"gaussian:16:7", "rademacher:8:1", "logra:4:3"}) {
    SCOPED_TRACE(text);
    auto p = make_projector(parse_projection_spec(text), all);
    ASSERT_NE(p, nullptr);
    const auto k = p->output_dim();
    auto g = random_rows(5, all.dim(), 11);
    auto out = p->project(g);
    EXPECT_EQ(out.sizes().vec(), (std::vector<std::int64_t>{5, k}));
    EXPECT_EQ(out.scalar_type(), torch::kDouble);
    auto outf = p->project(g.to(torch::kFloat));
    EXPECT_EQ(outf.scalar_type(), torch::kFloat);
    EXPECT_LE(rel_err(outf, out), 1e-5) << "float and double use the same P";
    auto one = p->project(g.slice(0, 2, 3));
    EXPECT_EQ(one.sizes().vec(), (std::vector<std::int64_t>{1, k}));
    EXPECT_LE(rel_err(one[0], out[2]), 1e-12) << "rows are projected independently";
  }
}

TEST_F(ProjectorOnBoe, DeterministicPerSeed) {
  auto g = random_rows(4, all.dim(), 3);
  for (const std::string kind : {"gaussian", "rademacher", "logra"}) {
    SCOPED_TRACE(kind);
    auto a = make_projector(spec_of(kind, 8, 5), all);
    auto b = make_projector(spec_of(kind, 8, 5), all);
    auto c = make_projector(spec_of(kind, 8, 6), all);
    auto pa = a->project(g), pb = b->project(g), pc = c->project(g);
    EXPECT_TRUE(torch::equal(pa, pb)) << "same spec, bit-identical";
    EXPECT_TRUE(torch::equal(pa, a->project(g))) << "same projector called twice";
    EXPECT_FALSE(torch::allclose(pa, pc)) << "another seed gives another P";
    EXPECT_GT(rel_err(pa, pc), 0.1);
  }
}

TEST_F(ProjectorOnBoe, Linear) {
  auto g = random_rows(3, all.dim(), 21), h = random_rows(3, all.dim(), 22);
  const double a = 1.7, b = -0.3;
  for (const char* text : {"gaussian:16:7", "rademacher:8:1", "logra:4:3"}) {
    SCOPED_TRACE(text);
    auto p = make_projector(parse_projection_spec(text), all);
    EXPECT_LE(rel_err(p->project(a * g + b * h), a * p->project(g) + b * p->project(h)), 1e-12);
    EXPECT_EQ(p->project(torch::zeros_like(g)).abs().max().item<double>(), 0.0);
  }
}

// P recovered column by column: project(I_D) = Pᵀ.
TEST_F(ProjectorOnBoe, DenseEntriesHaveTheDocumentedDistribution) {
  const auto D = all.dim();
  auto eye = torch::eye(D, torch::kDouble);
  {
    const std::int64_t k = 64;
    auto P = make_projector(spec_of("gaussian", k, 9), all)->project(eye).t();  // [k,D]
    ASSERT_EQ(P.sizes().vec(), (std::vector<std::int64_t>{k, D}));
    const double n = double(k * D);
    const double mean = P.mean().item<double>();
    const double var = P.pow(2).mean().item<double>();  // E[x²] = 1/k
    EXPECT_LT(std::abs(mean), 4.0 / std::sqrt(double(k)) / std::sqrt(n));
    EXPECT_NEAR(var * k, 1.0, 0.05) << "entries N(0,1)/sqrt(K)";
    // Roughly Gaussian: the fourth moment of a Gaussian is 3σ⁴.
    EXPECT_NEAR(P.pow(4).mean().item<double>() * k * k, 3.0, 0.3);
  }
  {
    const std::int64_t k = 16;
    auto P = make_projector(spec_of("rademacher", k, 9), all)->project(eye).t();
    const double s = 1.0 / std::sqrt(double(k));
    EXPECT_LE((P.abs() - s).abs().max().item<double>(), 1e-12) << "entries ±1/sqrt(K)";
    const double frac_pos = (P > 0).to(torch::kDouble).mean().item<double>();
    EXPECT_NEAR(frac_pos, 0.5, 0.05);
  }
}

// D > 4096: several generator blocks, and a memory budget too small to cache them.
TEST(DenseProjector, BlocksAndMemoryBudget) {
  auto m = double_model("boe", 600);
  auto layout = ParamLayout::select(*m, "all");
  const auto D = layout.dim();
  ASSERT_GT(D, 4096 + 100);
  auto g = random_rows(3, D, 5);
  for (const std::string kind : {"gaussian", "rademacher"}) {
    SCOPED_TRACE(kind);
    auto spec = spec_of(kind, 24, 77);
    auto cached = make_projector(spec, layout);
    auto uncached = make_projector(spec, layout, 0);
    auto a = cached->project(g);
    EXPECT_TRUE(torch::equal(a, uncached->project(g))) << "budget does not change P";
    EXPECT_TRUE(torch::equal(a, uncached->project(g))) << "regenerated P is identical";
    EXPECT_TRUE(torch::equal(a, cached->project(g)));
    // Columns of the first two blocks are not copies of each other.
    auto unit_first = torch::zeros({64, D}, torch::kDouble), unit_second = torch::zeros({64, D}, torch::kDouble);
    for (std::int64_t i = 0; i < 64; ++i) {
      unit_first[i][i] = 1.0;
      unit_second[i][4096 + i] = 1.0;
    }
    auto first = cached->project(unit_first);
    auto second = cached->project(unit_second);
    EXPECT_FALSE(torch::allclose(first, second)) << "each block has its own generator";
    if (kind == "gaussian") EXPECT_FALSE(torch::allclose(first.abs(), second.abs()));
    // Linearity across blocks.
    auto h = random_rows(3, D, 6);
    EXPECT_LE(rel_err(cached->project(g - 2.0 * h), a - 2.0 * cached->project(h)), 1e-12);
  }
}

// ------------------------------------------------------- JL unbiasedness

struct JlStats {
  double mean_abs = 0;     // mean |<Pg,Pg'> - <g,g'>| / |<g,g'>|
  double mean_signed = 0;  // mean (<Pg,Pg'> - <g,g'>) / <g,g'>
  double se_signed = 0;    // its standard error
};

JlStats jl_stats(const std::string& kind, std::int64_t k, const ParamLayout& layout, int seeds) {
  const auto D = layout.dim();
  auto g = random_rows(1, D, 1001);
  auto gp = g + 0.5 * random_rows(1, D, 1002);
  auto pair = torch::cat({g, gp});  // [2,D]
  const double exact = (g * gp).sum().item<double>();
  std::vector<double> errs;
  for (int s = 1; s <= seeds; ++s) {
    auto p = make_projector(spec_of(kind, k, static_cast<std::uint64_t>(s)), layout);
    auto out = p->project(pair);
    const double est = (out[0] * out[1]).sum().item<double>();
    errs.push_back((est - exact) / exact);
  }
  JlStats st;
  for (double e : errs) {
    st.mean_abs += std::abs(e);
    st.mean_signed += e;
  }
  st.mean_abs /= seeds;
  st.mean_signed /= seeds;
  double var = 0;
  for (double e : errs) var += (e - st.mean_signed) * (e - st.mean_signed);
  st.se_signed = std::sqrt(var / (seeds - 1) / seeds);
  return st;
}

class JohnsonLindenstrauss : public ProjectorOnBoe, public ::testing::WithParamInterface<std::string> {};

TEST_P(JohnsonLindenstrauss, UnbiasedAndErrorShrinksLikeOneOverSqrtK) {
  const auto kind = GetParam();
  const int seeds = 150;
  auto e16 = jl_stats(kind, 16, all, seeds);
  auto e64 = jl_stats(kind, 64, all, seeds);
  auto e256 = jl_stats(kind, 256, all, seeds);
  RecordProperty("err16", std::to_string(e16.mean_abs));
  RecordProperty("err64", std::to_string(e64.mean_abs));
  RecordProperty("err256", std::to_string(e256.mean_abs));
  EXPECT_GT(e16.mean_abs, e64.mean_abs);
  EXPECT_GT(e64.mean_abs, e256.mean_abs);
  const double ratio = e16.mean_abs / e256.mean_abs;
  EXPECT_GT(ratio, 2.0) << e16.mean_abs << " / " << e256.mean_abs;
  EXPECT_LT(ratio, 8.0) << e16.mean_abs << " / " << e256.mean_abs;
  // Magnitude: std of the relative error is sqrt((|g|²|g'|² + <g,g'>²)/k)/<g,g'> ≈ 1.5/sqrt(k).
  EXPECT_LT(e16.mean_abs, 0.8);
  EXPECT_GT(e16.mean_abs, 0.1);
  // Unbiased: the mean signed error is within noise of 0.
  for (const auto& e : {e16, e64, e256})
    EXPECT_LT(std::abs(e.mean_signed), 5.0 * e.se_signed + 1e-3) << e.mean_signed << " ± " << e.se_signed;
}

INSTANTIATE_TEST_SUITE_P(Dense, JohnsonLindenstrauss, ::testing::Values("gaussian", "rademacher"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// ------------------------------------------------------------------- LoGra

TEST_F(ProjectorOnBoe, LograLayoutAndFactors) {
  const std::int64_t K = 4;
  auto p = make_projector(spec_of("logra", K, 3), all);
  ASSERT_NE(p, nullptr);
  auto* f = dynamic_cast<const FactorisedProjector*>(p.get());
  ASSERT_NE(f, nullptr) << "logra makes a FactorisedProjector";
  EXPECT_EQ(p->input_dim(), all.dim());
  std::int64_t expected_k = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const auto& s = all.params()[i];
    SCOPED_TRACE(s.name);
    const int idx = static_cast<int>(i);
    EXPECT_EQ(f->output_offset(idx), expected_k) << "blocks are contiguous, in layout order";
    const bool matrix = s.shape.size() == 2;
    EXPECT_EQ(f->is_matrix(idx), matrix);
    std::int64_t width;
    if (matrix) {
      const auto r = s.shape[0], c = s.shape[1];
      width = std::min(K, r) * std::min(K, c);
      auto [pr, pc] = f->factors(idx, torch::kDouble, torch::Device(torch::kCPU));
      EXPECT_EQ(pr.defined(), r > K) << "identity factors are undefined";
      EXPECT_EQ(pc.defined(), c > K);
      if (pr.defined()) {
        EXPECT_EQ(pr.sizes().vec(), (std::vector<std::int64_t>{K, r}));
        EXPECT_EQ(pr.scalar_type(), torch::kDouble);
      }
      if (pc.defined()) {
        EXPECT_EQ(pc.sizes().vec(), (std::vector<std::int64_t>{K, c}));
        EXPECT_EQ(pc.scalar_type(), torch::kDouble);
      }
      // Generated in float64 then cast: the float factors are the cast double ones.
      auto [fr, fc] = f->factors(idx, torch::kFloat, torch::Device(torch::kCPU));
      if (pr.defined()) {
        ASSERT_TRUE(fr.defined());
        EXPECT_EQ(fr.scalar_type(), torch::kFloat);
        EXPECT_TRUE(torch::equal(fr, pr.to(torch::kFloat)));
      }
      if (pc.defined()) {
        ASSERT_TRUE(fc.defined());
        EXPECT_TRUE(torch::equal(fc, pc.to(torch::kFloat)));
      }
    } else {
      width = std::min(K, s.numel);
    }
    EXPECT_EQ(f->output_width(idx), width);
    expected_k += width;
  }
  EXPECT_EQ(p->output_dim(), expected_k) << "k = sum of the per-parameter widths";
  // The boe tiny model has both an identity row factor (classifier.weight [3,6])
  // and full ones (embeddings [23,8]); make sure the test saw both.
  const int cls = all.index_of(all.params()[all.size() - 2].tensor);
  ASSERT_EQ(all.params()[static_cast<std::size_t>(cls)].name, "classifier.weight");
  auto [cr, cc] = f->factors(cls, torch::kDouble, torch::Device(torch::kCPU));
  EXPECT_FALSE(cr.defined());
  EXPECT_TRUE(cc.defined());
}

// The dense Kronecker matrix built from factors() equals project() block by block.
TEST_F(ProjectorOnBoe, LograEqualsTheDenseKroneckerProjection) {
  for (std::int64_t K : {2, 4, 5}) {
    SCOPED_TRACE("K = " + std::to_string(K));
    auto p = make_projector(spec_of("logra", K, 11), all);
    auto* f = dynamic_cast<const FactorisedProjector*>(p.get());
    ASSERT_NE(f, nullptr);
    auto g = random_rows(4, all.dim(), 100 + K);
    auto out = p->project(g);
    std::int64_t total_width = 0;
    for (std::size_t i = 0; i < all.size(); ++i) {
      const auto& s = all.params()[i];
      SCOPED_TRACE(s.name);
      const int idx = static_cast<int>(i);
      const auto off = f->output_offset(idx), width = f->output_width(idx);
      total_width += width;
      auto block = out.slice(1, off, off + width);
      auto gi = g.slice(1, s.offset, s.offset + s.numel);
      if (f->is_matrix(idx)) {
        auto [pr, pc] = f->factors(idx, torch::kDouble, torch::Device(torch::kCPU));
        if (!pr.defined()) pr = torch::eye(s.shape[0], torch::kDouble);
        if (!pc.defined()) pc = torch::eye(s.shape[1], torch::kDouble);
        auto dense = torch::kron(pr, pc);  // [k_r*k_c, r*c] acting on row-major vec(G)
        ASSERT_EQ(dense.size(0), width);
        EXPECT_LE(rel_err(block, gi.matmul(dense.t())), 1e-12);
        // Same thing without kron: P_r G P_cᵀ, flattened row-major.
        auto G = gi.reshape({gi.size(0), s.shape[0], s.shape[1]});
        auto PGP = torch::matmul(torch::matmul(pr, G), pc.t()).reshape({gi.size(0), -1});
        EXPECT_LE(rel_err(block, PGP), 1e-12);
      } else if (s.numel <= K) {
        EXPECT_LE(rel_err(block, gi), 1e-15) << "a vector no longer than K is copied";
      } else {
        EXPECT_EQ(width, K);
        // This block depends only on this parameter's slice of g.
        auto g2 = g.clone();
        g2.slice(1, s.offset, s.offset + s.numel).zero_();
        EXPECT_EQ(p->project(g2).slice(1, off, off + width).abs().max().item<double>(), 0.0);
      }
    }
    EXPECT_EQ(total_width, p->output_dim());
  }
}

// A single 2-D parameter: the whole projection is one Kronecker product.
TEST(LograProjector, SingleMatrixParameterIsOneKroneckerProduct) {
  auto m = double_model("boe");
  for (const std::string name : {"pooler.weight", "classifier.weight", "embeddings.weight"}) {
    SCOPED_TRACE(name);
    auto layout = ParamLayout::select(*m, name);
    ASSERT_EQ(layout.size(), 1u);
    auto p = make_projector(spec_of("logra", 2, 4), layout);
    auto* f = dynamic_cast<const FactorisedProjector*>(p.get());
    ASSERT_NE(f, nullptr);
    auto [pr, pc] = f->factors(0, torch::kDouble, torch::Device(torch::kCPU));
    ASSERT_TRUE(pr.defined());
    ASSERT_TRUE(pc.defined());
    auto dense = torch::kron(pr, pc);
    EXPECT_EQ(dense.size(0), p->output_dim());
    EXPECT_EQ(dense.size(1), layout.dim());
    auto g = random_rows(6, layout.dim(), 8);
    EXPECT_LE(rel_err(p->project(g), g.matmul(dense.t())), 1e-12);
  }
}

// Factor entries are N(0,1)/sqrt(k): E[PᵀP] = I.
TEST(LograProjector, FactorScaleMakesItUnbiased) {
  auto m = double_model("boe");
  auto layout = ParamLayout::select(*m, "embeddings");  // [23,8]
  const std::int64_t K = 4;
  double sum_r = 0, sum_c = 0;
  std::int64_t n_r = 0, n_c = 0;
  for (std::uint64_t seed = 1; seed <= 120; ++seed) {
    auto p = make_projector(spec_of("logra", K, seed), layout);
    auto* f = dynamic_cast<const FactorisedProjector*>(p.get());
    ASSERT_NE(f, nullptr);
    auto [pr, pc] = f->factors(0, torch::kDouble, torch::Device(torch::kCPU));
    sum_r += pr.pow(2).sum().item<double>();
    sum_c += pc.pow(2).sum().item<double>();
    n_r += pr.numel();
    n_c += pc.numel();
  }
  EXPECT_NEAR(sum_r / n_r * K, 1.0, 0.1);
  EXPECT_NEAR(sum_c / n_c * K, 1.0, 0.1);
}

// ------------------------------------------- projected per-example gradients

using ProjParam = std::tuple<std::string, std::string, std::string>;  // arch, filter, kind

class ProjectedPerExample : public ::testing::TestWithParam<ProjParam> {};

TEST_P(ProjectedPerExample, EqualsProjectedReference) {
  const auto& [arch, filter, kind] = GetParam();
  auto m = double_model(arch);
  auto batch = model::testing::ragged_batch(m->vocab_size(), 2);
  auto layout = ParamLayout::select(*m, filter);
  const std::int64_t K = kind == "logra" ? (filter == "classifier" ? 2 : 4) : (filter == "classifier" ? 8 : 32);
  auto proj = make_projector(spec_of(kind, K, 13), layout);
  ASSERT_NE(proj, nullptr);
  ASSERT_EQ(proj->input_dim(), layout.dim());
  ASSERT_LT(proj->output_dim(), layout.dim());
  if (kind == "logra") ASSERT_NE(dynamic_cast<const FactorisedProjector*>(proj.get()), nullptr);

  for (auto target : {LossTarget::gold, LossTarget::predicted}) {
    SCOPED_TRACE(loss_target_name(target));
    auto ref = testing::naive_reference(*m, filter, batch, target == LossTarget::predicted);
    auto expected = proj->project(ref.gradients);
    for (auto method : {GradientMethod::vectorised, GradientMethod::loop}) {
      SCOPED_TRACE(method == GradientMethod::loop ? "loop" : "vectorised");
      PerExampleGradients pe(*m, layout, proj.get(), method);
      EXPECT_EQ(pe.output_dim(), proj->output_dim());
      auto got = pe.compute(batch, target);
      EXPECT_EQ(got.gradients.sizes().vec(), (std::vector<std::int64_t>{batch.size(), proj->output_dim()}));
      EXPECT_EQ(got.gradients.scalar_type(), torch::kDouble);
      EXPECT_LE(rel_err(got.gradients, expected), 1e-6);
      for (std::int64_t b = 0; b < batch.size(); ++b)
        EXPECT_LE(rel_err(got.gradients[b], expected[b]), 1e-6) << "row " << b;
      EXPECT_TRUE(torch::equal(got.targets, ref.targets));
      EXPECT_LE(rel_err(got.losses, ref.losses), 1e-8);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Builtin, ProjectedPerExample,
    ::testing::Combine(::testing::Values("boe", "bilstm", "transformer"), ::testing::Values("classifier", "all"),
                       ::testing::Values("logra", "gaussian")),
    [](const ::testing::TestParamInfo<ProjParam>& info) {
      return std::get<0>(info.param) + "_" + std::get<1>(info.param) + "_" + std::get<2>(info.param);
    });

// The factorised path with a deeper layer only (no classifier in the layout).
TEST(ProjectedPerExampleDeep, LograOnOneEncoderLayer) {
  for (const auto& arch : testing::architectures()) {
    SCOPED_TRACE(arch);
    auto m = double_model(arch);
    const auto filter = testing::deep_filter(arch) + ",embeddings";
    auto batch = model::testing::ragged_batch(m->vocab_size(), 3);
    auto layout = ParamLayout::select(*m, filter);
    auto proj = make_projector(spec_of("logra", 3, 2), layout);
    PerExampleGradients pe(*m, layout, proj.get());
    auto got = pe.compute(batch, LossTarget::gold);
    auto ref = testing::naive_reference(*m, filter, batch, false);
    EXPECT_LE(rel_err(got.gradients, proj->project(ref.gradients)), 1e-6);
  }
}

}  // namespace
}  // namespace fathom::grads
