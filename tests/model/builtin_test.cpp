// Contract tests of the builtin architectures (model.h): exact relations
// between entry points, padding invariance, gradients against finite
// differences, parameter names and groups, weights round trip.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdio>
#include <set>
#include <unistd.h>

#include "fathom/core/error.h"
#include "fathom/model/builtin.h"
#include "model/builtin_fixtures.h"

namespace fathom::model {
namespace {

using testing::ragged_batch;
using testing::tiny_config;

class BuiltinArch : public ::testing::TestWithParam<std::string> {
 protected:
  std::shared_ptr<Model> make(std::uint64_t seed = 7) {
    auto c = tiny_config(GetParam());
    c.seed = seed;
    auto m = make_builtin(c);
    m->train(false);
    return m;
  }
};

TEST_P(BuiltinArch, ForwardEqualsForwardFromEmbeddingsOfEmbed) {
  auto model = make();
  torch::NoGradGuard no_grad;
  auto b = ragged_batch(model->vocab_size());
  auto direct = model->forward(b);
  auto emb = model->embed(b.ids);
  ASSERT_EQ(emb.sizes(), torch::IntArrayRef({3, b.ids.size(1), model->embedding_dim()}));
  auto via = model->forward_from_embeddings(emb, b.mask, b.type_ids);
  EXPECT_TRUE(torch::equal(direct.logits, via.logits));
  EXPECT_TRUE(torch::equal(direct.features, via.features));
  EXPECT_EQ(direct.logits.sizes(), torch::IntArrayRef({3, model->num_labels()}));
  EXPECT_EQ(direct.features.sizes(), torch::IntArrayRef({3, model->hidden_dim()}));
}

TEST_P(BuiltinArch, LogitsAreFeaturesTimesClassifier) {
  auto model = make();
  torch::Tensor w, bias;
  for (auto& [name, t] : model->named_parameters()) {
    if (name == "classifier.weight") w = t;
    if (name == "classifier.bias") bias = t;
  }
  ASSERT_TRUE(w.defined() && bias.defined());
  for (bool training : {false, true}) {  // the head has no dropout in either mode
    model->train(training);
    torch::NoGradGuard no_grad;
    auto out = model->forward(ragged_batch(model->vocab_size()));
    EXPECT_TRUE(torch::allclose(out.logits, torch::matmul(out.features, w.t()) + bias, 1e-6, 1e-7));
  }
}

TEST_P(BuiltinArch, EmbeddingMatrixIsTheEmbeddingParameter) {
  auto model = make();
  auto matrix = model->embedding_matrix();
  EXPECT_EQ(matrix.sizes(), torch::IntArrayRef({model->vocab_size(), model->embedding_dim()}));
  auto groups = model->parameter_groups();
  ASSERT_EQ(groups.at("embeddings").size(), 1u);
  int found = 0;
  for (auto& [name, t] : model->named_parameters())
    if (name == groups.at("embeddings")[0]) {
      EXPECT_TRUE(t.is_same(matrix));
      ++found;
    }
  EXPECT_EQ(found, 1) << "the embeddings group names a parameter of the model";
  torch::NoGradGuard no_grad;
  auto ids = torch::tensor({{4, 9}}, torch::kLong);
  EXPECT_TRUE(torch::equal(model->embed(ids)[0][1], matrix[9]));
}

TEST_P(BuiltinArch, PaddingDoesNotChangeOutputs) {
  auto model = make();
  torch::NoGradGuard no_grad;
  auto tight = model->forward(ragged_batch(model->vocab_size()));
  auto padded = model->forward(ragged_batch(model->vocab_size(), /*extra_padding=*/4));
  EXPECT_TRUE(torch::allclose(tight.logits, padded.logits, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(tight.features, padded.features, 1e-5, 1e-6));

  // Each row alone (no padding at all) equals its row in the padded batch.
  auto b = ragged_batch(model->vocab_size(), 2);
  for (std::int64_t r = 0; r < 3; ++r) {
    auto len = b.mask[r].sum().item<std::int64_t>();
    auto ids = b.ids[r].narrow(0, 0, len).unsqueeze(0);
    auto mask = b.mask[r].narrow(0, 0, len).unsqueeze(0);
    auto types = b.type_ids[r].narrow(0, 0, len).unsqueeze(0);
    auto alone = model->forward_from_embeddings(model->embed(ids), mask, types);
    EXPECT_TRUE(torch::allclose(alone.logits[0], padded.logits[r], 1e-5, 1e-6)) << "row " << r;
  }
}

TEST_P(BuiltinArch, EvalModeIsDeterministicAndTrainModeUsesDropout) {
  auto model = make();
  auto b = ragged_batch(model->vocab_size());
  torch::NoGradGuard no_grad;
  EXPECT_FALSE(model->is_training());
  EXPECT_TRUE(torch::equal(model->forward(b).logits, model->forward(b).logits));
  model->train(true);
  EXPECT_TRUE(model->is_training());
  torch::manual_seed(3);
  auto a1 = model->forward(b).features;
  auto a2 = model->forward(b).features;
  EXPECT_FALSE(torch::equal(a1, a2));
}

// Scalar test function touching every logit and feature, with fixed weights.
torch::Tensor probe_loss(const ModelOutput& out) {
  auto wl = torch::linspace(-1.0, 1.0, out.logits.numel(), out.logits.options()).view_as(out.logits);
  auto wf = torch::linspace(0.5, -0.7, out.features.numel(), out.features.options()).view_as(out.features);
  return (out.logits * wl).sum() + (out.features * wf).sum() + torch::log_softmax(out.logits, -1).select(1, 0).sum();
}

// Relative error with an absolute floor of 1e-9 for near-zero derivatives,
// where the difference quotient's rounding error dominates.
bool close_relative(double analytic, double numeric, double rel) {
  return std::abs(analytic - numeric) <= rel * (std::abs(analytic) + std::abs(numeric)) + 1e-9;
}

TEST_P(BuiltinArch, EmbeddingGradientsMatchFiniteDifferences) {
  auto model = make();
  model->to(torch::kCPU, torch::kDouble);
  auto b = ragged_batch(model->vocab_size(), 1);
  auto emb = model->embed(b.ids).detach().clone().requires_grad_(true);
  ASSERT_EQ(emb.scalar_type(), torch::kDouble);
  auto loss = probe_loss(model->forward_from_embeddings(emb, b.mask, b.type_ids));
  auto grad = torch::autograd::grad({loss}, {emb})[0];

  torch::NoGradGuard no_grad;
  auto f = [&](const torch::Tensor& e) {
    return probe_loss(model->forward_from_embeddings(e, b.mask, b.type_ids)).item<double>();
  };
  const double eps = 1e-5;  // balances truncation (eps^2) and rounding (1e-16/eps) error
  int checked = 0;
  for (std::int64_t r = 0; r < emb.size(0); ++r) {
    for (std::int64_t t = 0; t < emb.size(1); ++t) {
      for (std::int64_t k : {std::int64_t{0}, emb.size(2) - 1}) {
        auto plus = emb.detach().clone();
        auto minus = emb.detach().clone();
        plus[r][t][k] += eps;
        minus[r][t][k] -= eps;
        double numeric = (f(plus) - f(minus)) / (2 * eps);
        double analytic = grad[r][t][k].item<double>();
        if (b.mask[r][t].item<std::int64_t>() == 0) {
          // Padding positions influence nothing.
          EXPECT_EQ(analytic, 0.0) << "pad r=" << r << " t=" << t;
          EXPECT_NEAR(numeric, 0.0, 1e-9);
        } else {
          EXPECT_TRUE(close_relative(analytic, numeric, 1e-6))
              << "r=" << r << " t=" << t << " k=" << k << " analytic=" << analytic << " numeric=" << numeric;
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 20);
}

// Influence needs double backward (Hessian-vector products) through every
// layer: compare Hv with a central difference of gradients.
TEST_P(BuiltinArch, HessianVectorProductsMatchFiniteDifferences) {
  auto model = make();
  model->to(torch::kCPU, torch::kDouble);
  auto b = ragged_batch(model->vocab_size());
  std::vector<torch::Tensor> params;
  for (auto& [name, t] : model->named_parameters()) params.push_back(t);
  auto loss_of = [&] {
    return torch::nn::functional::cross_entropy(model->forward(b).logits, b.labels);
  };
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  std::vector<torch::Tensor> v;
  for (auto& p : params) v.push_back(torch::randn(p.sizes(), gen, p.options()));

  auto grads = torch::autograd::grad({loss_of()}, params, {}, /*retain_graph=*/true, /*create_graph=*/true);
  torch::Tensor dot = torch::zeros({}, torch::kDouble);
  for (std::size_t i = 0; i < params.size(); ++i) dot = dot + (grads[i] * v[i]).sum();
  auto hv = torch::autograd::grad({dot}, params);

  const double eps = 1e-5;
  auto shifted_grads = [&](double step) {
    {
      torch::NoGradGuard no_grad;
      for (std::size_t i = 0; i < params.size(); ++i) params[i].add_(v[i], step);
    }
    auto g = torch::autograd::grad({loss_of()}, params);
    torch::NoGradGuard no_grad;
    for (std::size_t i = 0; i < params.size(); ++i) params[i].add_(v[i], -step);
    return g;
  };
  auto gp = shifted_grads(eps);
  auto gm = shifted_grads(-eps);
  double num = 0, den = 0;
  for (std::size_t i = 0; i < params.size(); ++i) {
    auto numeric = (gp[i] - gm[i]) / (2 * eps);
    num += (numeric - hv[i]).pow(2).sum().item<double>();
    den += hv[i].pow(2).sum().item<double>();
  }
  EXPECT_LT(std::sqrt(num / den), 1e-6) << "relative L2 error of Hv";
}

TEST_P(BuiltinArch, NamedParametersAreStableAndSeeded) {
  auto a = make(7), same = make(7), other = make(8);
  auto pa = a->named_parameters(), ps = same->named_parameters(), po = other->named_parameters();
  ASSERT_EQ(pa.size(), ps.size());
  std::set<std::string> names;
  for (std::size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i].first, ps[i].first);
    EXPECT_TRUE(torch::equal(pa[i].second, ps[i].second)) << pa[i].first;
    names.insert(pa[i].first);
  }
  EXPECT_EQ(names.size(), pa.size()) << "duplicate parameter names";
  EXPECT_EQ(pa.front().first, "embeddings.weight");
  EXPECT_EQ(pa[pa.size() - 2].first, "classifier.weight");
  EXPECT_EQ(pa.back().first, "classifier.bias");
  EXPECT_FALSE(torch::equal(pa.front().second, po.front().second)) << "seed must change the initialisation";

  auto groups = a->parameter_groups();
  ASSERT_TRUE(groups.count("classifier"));
  ASSERT_TRUE(groups.count("embeddings"));
  EXPECT_EQ(groups["classifier"], (std::vector<std::string>{"classifier.weight", "classifier.bias"}));
  for (auto& [group, members] : groups)
    for (auto& name : members) EXPECT_TRUE(names.count(name)) << group << " names unknown " << name;
}

TEST_P(BuiltinArch, SavedWeightsLoadIntoAFreshModel) {
  auto model = make(7);
  std::string path = ::testing::TempDir() + "/fathom_builtin_weights_" + GetParam() + "_" + std::to_string(::getpid()) + ".pt";
  model->save_weights(path);
  auto fresh = make(99);
  fresh->load_weights(path);
  std::remove(path.c_str());
  torch::NoGradGuard no_grad;
  auto b = ragged_batch(model->vocab_size());
  EXPECT_TRUE(torch::equal(model->forward(b).logits, fresh->forward(b).logits));
}

INSTANTIATE_TEST_SUITE_P(Architectures, BuiltinArch, ::testing::Values("boe", "bilstm", "transformer"),
                         [](const auto& info) { return info.param; });

TEST(BuiltinNames, FollowTheDocumentedLayout) {
  auto names_of = [](const std::string& arch) {
    std::set<std::string> names;
    for (auto& [name, t] : make_builtin(tiny_config(arch))->named_parameters()) names.insert(name);
    return names;
  };
  auto boe = names_of("boe");
  EXPECT_EQ(boe, (std::set<std::string>{"embeddings.weight", "pooler.weight", "pooler.bias", "classifier.weight",
                                        "classifier.bias"}));
  auto lstm = names_of("bilstm");
  for (const char* n : {"encoder.layers.0.fwd.weight_ih", "encoder.layers.1.bwd.weight_hh", "encoder.layers.1.bwd.bias"})
    EXPECT_TRUE(lstm.count(n)) << n;
  auto tr = names_of("transformer");
  for (const char* n : {"position_embeddings.weight", "type_embeddings.weight", "encoder.layers.1.linear1.weight",
                        "encoder.layers.0.self_attn.in_proj_weight", "encoder.layers.0.self_attn.out_proj.bias",
                        "encoder.layers.0.norm2.weight", "encoder.norm.bias"})
    EXPECT_TRUE(tr.count(n)) << n;
}

TEST(BuiltinTransformer, UsesSegmentIdsAndRejectsTooLongInputs) {
  auto model = make_builtin(tiny_config("transformer"));
  model->train(false);
  torch::NoGradGuard no_grad;
  auto b = ragged_batch(model->vocab_size());
  auto with_types = model->forward(b).logits;
  auto no_types = model->forward_from_embeddings(model->embed(b.ids), b.mask, torch::Tensor()).logits;
  EXPECT_FALSE(torch::allclose(with_types, no_types));

  auto ids = torch::ones({1, 17}, torch::kLong);  // max_length is 16
  try {
    model->forward_from_embeddings(model->embed(ids), torch::ones_like(ids), torch::zeros_like(ids));
    FAIL() << "no throw";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("17 tokens exceeds the transformer's max_length 16"), std::string::npos)
        << e.what();
  }
}

TEST(BuiltinConfigJson, RoundTripsAndRejectsUnknownOrMistypedKeys) {
  auto c = tiny_config("bilstm", 101);
  c.seed = 12345678901234ULL;
  c.dropout = 0.25;
  auto back = BuiltinConfig::from_json(c.to_json());
  EXPECT_EQ(back.to_json(), c.to_json());
  EXPECT_EQ(back.seed, c.seed);
  EXPECT_EQ(back.vocab_size, 101);

  auto partial = BuiltinConfig::from_json(R"({"architecture": "transformer", "vocab_size": 5})");
  EXPECT_EQ(partial.hidden_dim, BuiltinConfig().hidden_dim);

  auto expect_input_error = [](const std::string& text, const std::string& field, const std::string& part) {
    try {
      BuiltinConfig::from_json(text, "cfg.json");
      FAIL() << "no throw for " << text;
    } catch (const InputError& e) {
      EXPECT_EQ(e.file(), "cfg.json");
      EXPECT_EQ(e.field(), field) << e.what();
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expect_input_error(R"({"embeding_dim": 8})", "embeding_dim", "unknown");
  expect_input_error(R"({"layers": "two"})", "layers", "expected an integer");
  expect_input_error(R"({"layers": 2,})", "", "malformed JSON");
}

TEST(BuiltinConfigChecks, InvalidSizesAreUsageErrors) {
  auto bad = tiny_config("transformer");
  bad.heads = 3;  // does not divide embedding_dim 8
  EXPECT_THROW(make_builtin(bad), UsageError);
  bad = tiny_config("cnn");
  try {
    make_builtin(bad);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown architecture 'cnn'"), std::string::npos);
  }
  bad = tiny_config("boe", 0);
  EXPECT_THROW(make_builtin(bad), UsageError);
}

TEST(BuiltinWeights, MismatchedFileNamesTheParameter) {
  std::string path = ::testing::TempDir() + "/fathom_boe_weights_" + std::to_string(::getpid()) + ".pt";
  make_builtin(tiny_config("boe", 30))->save_weights(path);
  auto smaller = make_builtin(tiny_config("boe", 23));
  try {
    smaller->load_weights(path);
    FAIL() << "no throw";
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), path);
    EXPECT_EQ(e.field(), "embeddings.weight");
    EXPECT_NE(std::string(e.what()).find("[30, 8]"), std::string::npos) << e.what();
  }
  auto lstm = make_builtin(tiny_config("bilstm", 30));
  try {
    lstm->load_weights(path);
    FAIL() << "no throw";
  } catch (const InputError& e) {
    EXPECT_NE(e.field().find("encoder."), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
  }
  std::remove(path.c_str());
}

}  // namespace
}  // namespace fathom::model
