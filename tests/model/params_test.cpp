// Parameter filter (globs, groups, "all"), thread configuration, Batch::to.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>

#include "fathom/core/error.h"
#include "fathom/model/builtin.h"
#include "model/builtin_fixtures.h"

namespace fathom::model {
namespace {

std::vector<std::string> names(const std::vector<NamedParameter>& params) {
  std::vector<std::string> out;
  for (const auto& p : params) out.push_back(p.first);
  return out;
}

TEST(GlobMatch, StarQuestionAndLiterals) {
  EXPECT_TRUE(glob_match("classifier.*", "classifier.weight"));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*", "a.b.c"));
  EXPECT_TRUE(glob_match("encoder.layers.?.linear1.*", "encoder.layers.3.linear1.bias"));
  EXPECT_FALSE(glob_match("encoder.layers.?.linear1.*", "encoder.layers.10.linear1.bias"));
  EXPECT_TRUE(glob_match("*.bias", "encoder.layers.0.norm1.bias"));
  EXPECT_TRUE(glob_match("*layers*norm*", "encoder.layers.0.norm1.bias"));
  EXPECT_TRUE(glob_match("a*b*c", "abbbc"));
  EXPECT_FALSE(glob_match("a*b*c", "abbbcd"));
  EXPECT_FALSE(glob_match("classifier", "classifier.weight"));  // no implicit prefix match
  EXPECT_TRUE(glob_match("pooler.weight", "pooler.weight"));
  EXPECT_FALSE(glob_match("pooler.weigh?", "pooler.weigh"));
  EXPECT_TRUE(glob_match("**", "x"));
}

class SelectParameters : public ::testing::Test {
 protected:
  void SetUp() override { model = make_builtin(testing::tiny_config("transformer")); }
  std::shared_ptr<Model> model;
};

TEST_F(SelectParameters, DefaultIsTheClassifierGroup) {
  EXPECT_EQ(names(select_parameters(*model)), (std::vector<std::string>{"classifier.weight", "classifier.bias"}));
  auto picked = select_parameters(*model, "classifier");
  ASSERT_EQ(picked.size(), 2u);
  // The same tensors as the model's, not copies: gradients flow into them.
  int found = 0;
  for (auto& [name, t] : model->named_parameters()) {
    if (name == "classifier.weight" || name == "classifier.bias") {
      EXPECT_TRUE(t.is_same(picked[name == "classifier.weight" ? 0 : 1].second)) << name;
      ++found;
    }
  }
  EXPECT_EQ(found, 2);
}

TEST_F(SelectParameters, AllIsEveryParameterInModelOrder) {
  EXPECT_EQ(names(select_parameters(*model, "all")), names(model->named_parameters()));
}

TEST_F(SelectParameters, GlobsSelectOneLayer) {
  auto picked = names(select_parameters(*model, "encoder.layers.0.*"));
  ASSERT_FALSE(picked.empty());
  for (const auto& n : picked) EXPECT_EQ(n.rfind("encoder.layers.0.", 0), 0u) << n;
  std::size_t expected = 0;
  for (const auto& n : names(model->named_parameters())) expected += n.rfind("encoder.layers.0.", 0) == 0;
  EXPECT_EQ(picked.size(), expected);
}

TEST_F(SelectParameters, UnionKeepsModelOrderWithoutDuplicates) {
  auto picked = names(select_parameters(*model, " classifier.* , embeddings,classifier,encoder.norm.weight "));
  EXPECT_EQ(picked, (std::vector<std::string>{"embeddings.weight", "encoder.norm.weight", "classifier.weight",
                                              "classifier.bias"}));
}

TEST_F(SelectParameters, UnmatchedPatternIsAUsageErrorNamingIt) {
  try {
    select_parameters(*model, "classifier,encoder.layers.9.*");
    FAIL() << "no throw";
  } catch (const UsageError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("'encoder.layers.9.*' matches no parameter"), std::string::npos) << msg;
    EXPECT_NE(msg.find("encoder.layers.1.linear1.weight"), std::string::npos) << "lists the available names: " << msg;
    EXPECT_NE(msg.find("embeddings"), std::string::npos) << msg;
  }
  EXPECT_THROW(select_parameters(*model, " , "), UsageError);
}

TEST(ConfigureThreads, RequestedWinsElseCoresPerLocalRank) {
  const int before = torch::get_num_threads();
  EXPECT_EQ(configure_threads(3), 3);
  EXPECT_EQ(torch::get_num_threads(), 3);

  const char* old = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  std::string saved = old ? old : "";
  ::setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "100000", 1);
  EXPECT_EQ(configure_threads(), 1) << "never below one thread";
  if (old)
    ::setenv("OMPI_COMM_WORLD_LOCAL_SIZE", saved.c_str(), 1);
  else
    ::unsetenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  torch::set_num_threads(before);
}

TEST(BatchTo, MovesTensorsAndKeepsUndefinedLabels) {
  auto b = testing::ragged_batch(23);
  b.labels = torch::Tensor();
  auto moved = b.to(torch::kCPU);
  EXPECT_FALSE(moved.labels.defined());
  EXPECT_TRUE(torch::equal(moved.ids, b.ids));
  EXPECT_EQ(moved.rows, b.rows);
  EXPECT_EQ(moved.size(), 3);
  EXPECT_EQ(Batch().size(), 0);
}

}  // namespace
}  // namespace fathom::model
