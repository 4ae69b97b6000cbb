// HotFlip first-order scores against an explicit (e_w − e_i)·g_i loop, the
// attack vocabulary filters, and the re-tokenisation check.
#include <gtest/gtest.h>

#include "fathom/attack/first_order.h"
#include "fathom/core/error.h"
#include "fathom/data/tokenizer_factory.h"
#include "fathom/data/vocab.h"

namespace {

namespace attack = fathom::attack;
namespace data = fathom::data;

TEST(FirstOrder, ScoresEqualExplicitDifferenceDotGradient) {
  torch::manual_seed(5);
  const std::int64_t T = 4, E = 6, V = 9;
  const torch::Tensor g = torch::randn({T, E}), e = torch::randn({T, E}), table = torch::randn({V, E});
  const torch::Tensor s = attack::first_order_scores(g, e, table);
  ASSERT_EQ(s.sizes(), (std::vector<std::int64_t>{T, V}));
  EXPECT_EQ(s.scalar_type(), torch::kDouble);
  auto G = g.accessor<float, 2>();
  auto Em = e.accessor<float, 2>();
  auto W = table.accessor<float, 2>();
  for (std::int64_t i = 0; i < T; ++i)
    for (std::int64_t w = 0; w < V; ++w) {
      double expected = 0;
      for (std::int64_t k = 0; k < E; ++k) expected += (double(W[w][k]) - double(Em[i][k])) * double(G[i][k]);
      EXPECT_NEAR(s[i][w].item<double>(), expected, 1e-9) << "position " << i << " token " << w;
    }
  // Batched form: [B,T,E] gives [B,T,V], row by row the same.
  const torch::Tensor sb = attack::first_order_scores(torch::stack({g, g * 2}), torch::stack({e, e}), table);
  EXPECT_TRUE(torch::allclose(sb[0], s, 0, 1e-12));
  EXPECT_TRUE(torch::allclose(sb[1], s * 2, 0, 1e-9));
  // A token's score against itself is zero.
  const torch::Tensor self = attack::first_order_scores(g, table.slice(0, 0, T), table);
  for (std::int64_t i = 0; i < T; ++i) EXPECT_NEAR(self[i][i].item<double>(), 0.0, 1e-9);
  EXPECT_THROW(attack::first_order_scores(g, e.slice(0, 0, 2), table), fathom::UsageError);
}

std::unique_ptr<data::Tokenizer> wordpiece(std::vector<std::string> tokens) {
  std::vector<std::string> all = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  all.insert(all.end(), tokens.begin(), tokens.end());
  return data::make_tokenizer("wordpiece", data::Vocab::from_tokens(all));
}

TEST(VocabFilter, SpecialsNeverAndFiltersOnRequest) {
  auto tok = wordpiece({"the", "movie", "##s", "good", ",", "[unused0]", "42", "bad"});
  const torch::Tensor none = attack::allowed_tokens(*tok, attack::parse_vocab_filter("none"));
  auto allowed = [&](const torch::Tensor& mask, const std::string& t) { return mask[tok->token_to_id(t)].item<bool>(); };
  for (const char* s : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused0]"}) EXPECT_FALSE(allowed(none, s)) << s;
  for (const char* s : {"the", "movie", "##s", ",", "42"}) EXPECT_TRUE(allowed(none, s)) << s;
  const torch::Tensor alpha = attack::allowed_tokens(*tok, attack::parse_vocab_filter("alpha"));
  EXPECT_TRUE(allowed(alpha, "##s"));
  EXPECT_FALSE(allowed(alpha, ","));
  EXPECT_FALSE(allowed(alpha, "42"));
  const torch::Tensor all = attack::allowed_tokens(*tok, attack::parse_vocab_filter("alpha,stopwords,words"));
  EXPECT_FALSE(allowed(all, "the"));
  EXPECT_FALSE(allowed(all, "##s"));
  EXPECT_TRUE(allowed(all, "movie"));
  EXPECT_TRUE(allowed(all, "bad"));
  EXPECT_EQ(attack::vocab_filter_spec(attack::parse_vocab_filter("words,alpha")), "alpha,words");
  EXPECT_THROW(attack::parse_vocab_filter("alpha,nouns"), fathom::UsageError);
}

TEST(Retokenize, RejectsCraftedBadCandidates) {
  auto tok = wordpiece({"the", "movie", "##s", "good", "movies", "un", "##good"});
  auto id = [&](const char* t) { return tok->token_to_id(t); };
  EXPECT_TRUE(attack::retokenizes(*tok, {id("the"), id("good"), id("movie")}));
  // "movie ##s" is written "movies", a word of its own.
  EXPECT_FALSE(attack::retokenizes(*tok, {id("the"), id("movie"), id("##s")}));
  // A trigger cannot start with a continuation piece.
  EXPECT_FALSE(attack::retokenizes(*tok, {id("##s"), id("good")}));
  // "un ##good" is written "ungood", which tokenizes back to the same pieces.
  EXPECT_TRUE(attack::retokenizes(*tok, {id("un"), id("##good")}));
  // Specials are never written back.
  EXPECT_FALSE(attack::retokenizes(*tok, {id("the"), tok->sep_id()}));
}

}  // namespace
