// make_batch: padding to the longest row, masks, segments, label mapping.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fathom/core/error.h"
#include "fathom/data/word_tokenizer.h"
#include "fathom/model/batching.h"

namespace fathom::model {
namespace {

data::WordTokenizer tokenizer() {
  std::vector<std::string_view> texts = {"the movie was great", "the plot was thin", "a dog"};
  return data::WordTokenizer::build(texts);
}

data::Example example(std::string id, std::string text, std::optional<std::string> label = {},
                      std::optional<std::string> pair = {}) {
  data::Example e;
  e.id = std::move(id);
  e.text = std::move(text);
  e.label = std::move(label);
  e.text_pair = std::move(pair);
  e.line = 4;
  return e;
}

TEST(MakeBatch, PadsToTheLongestRowWithMask) {
  auto tok = tokenizer();
  auto b = make_batch({example("a", "the movie", "pos"), example("b", "a dog was great", "neg")}, tok, 128,
                      {"neg", "pos"});
  ASSERT_EQ(b.ids.sizes(), torch::IntArrayRef({2, 6}));  // [CLS] 4 words [SEP]
  EXPECT_EQ(b.ids.scalar_type(), torch::kLong);
  EXPECT_EQ(b.mask[0].sum().item<std::int64_t>(), 4);
  EXPECT_EQ(b.mask[1].sum().item<std::int64_t>(), 6);
  EXPECT_EQ(b.ids[0][0].item<std::int64_t>(), tok.cls_id());
  EXPECT_EQ(b.ids[0][3].item<std::int64_t>(), tok.sep_id());
  EXPECT_EQ(b.ids[0][5].item<std::int64_t>(), tok.pad_id());
  EXPECT_EQ(b.ids[1][4].item<std::int64_t>(), tok.token_to_id("great"));
  EXPECT_TRUE(torch::equal(b.labels, torch::tensor({1, 0}, torch::kLong)));
  EXPECT_EQ(b.rows, (std::vector<std::int64_t>{0, 1}));
  EXPECT_EQ(b.type_ids.sum().item<std::int64_t>(), 0);
}

TEST(MakeBatch, PairsGetSegmentOneAndMaxLengthTruncates) {
  auto tok = tokenizer();
  auto b = make_batch({example("p", "the movie", {}, std::string("a dog"))}, tok, 128, {}, {42});
  // [CLS] the movie [SEP] a dog [SEP]
  EXPECT_TRUE(torch::equal(b.type_ids[0], torch::tensor({0, 0, 0, 0, 1, 1, 1}, torch::kLong)));
  EXPECT_FALSE(b.labels.defined());
  EXPECT_EQ(b.rows, (std::vector<std::int64_t>{42}));
  auto cut = make_batch({example("p", "the movie was great the plot was thin")}, tok, 5, {});
  EXPECT_EQ(cut.ids.size(1), 5);
}

TEST(MakeBatch, UnlabelledRowsAmongLabelledOnesAreIgnored) {
  auto tok = tokenizer();
  auto b = make_batch({example("a", "the", "pos"), example("b", "dog")}, tok, 16, {"neg", "pos"});
  EXPECT_TRUE(torch::equal(b.labels, torch::tensor({std::int64_t{1}, data::kNoLabel}, torch::kLong)));
}

TEST(MakeBatch, UnknownLabelNamesExampleLineAndLabels) {
  auto tok = tokenizer();
  try {
    make_batch({example("x7", "the", "maybe")}, tok, 16, {"neg", "pos"});
    FAIL() << "no throw";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "example 'x7':4: field 'label': unknown label 'maybe' (the model's labels: neg, pos)");
  }
  EXPECT_THROW(make_batch({example("x", "the")}, tok, 16, {}, {1, 2}), UsageError);
}

}  // namespace
}  // namespace fathom::model
