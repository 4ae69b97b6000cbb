// Saliency of whole examples and the batch command (saliency_explain.h,
// saliency_run.h) on small trained bundles: offsets map back to the text,
// word aggregates of wordpiece models, targets, the output file and its meta,
// the randomisation sanity check, and refusals that write nothing.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "fathom/attrib/saliency_run.h"
#include "fathom/core/error.h"
#include "saliency/saliency_fixture.h"
#include "temp_dir.h"
#include "test_files.h"

namespace {

namespace attrib = fathom::attrib;
using fathom::testing::read_json;
using fathom::testing::read_jsonl;

struct Data {
  std::unique_ptr<fathom::testing::TempDir> dir;
  fathom::saliency_testing::SaliencyData d;
};

const Data& data() {
  static Data s = [] {
    Data x;
    x.dir = std::make_unique<fathom::testing::TempDir>("saliency_explain");
    auto comm = fathom::comm::make_communicator("local");
    x.d = fathom::saliency_testing::build_saliency_data(x.dir->path() / "data", *comm, true);
    return x;
  }();
  return s;
}

fathom::data::Example example(const std::string& text, std::optional<std::string> pair = std::nullopt,
                              std::optional<std::string> label = std::nullopt) {
  fathom::data::Example e;
  e.id = "e";
  e.text = text;
  e.text_pair = std::move(pair);
  e.label = std::move(label);
  e.line = 7;
  return e;
}

TEST(SaliencyExplain, OffsetsWordsAndNormalisation) {
  auto bundle = fathom::model::load_bundle(data().d.transformer);
  attrib::SaliencySettings s;
  s.method = attrib::SaliencyMethod::grad_input;
  const std::string text = "The plotting was lovely", pair = "boring actors";
  auto res = attrib::explain_saliency(bundle, {example(text, pair)}, s, attrib::SaliencyTarget{}, 4);
  ASSERT_EQ(res.size(), 1u);
  const auto& e = res[0];
  double norm = 0;
  bool continuation = false;
  for (const auto& t : e.tokens) {
    norm += t.normalized;
    if (t.special) continue;
    const std::string& src = t.segment == 1 ? pair : text;
    EXPECT_EQ(t.text, src.substr(std::size_t(t.begin), std::size_t(t.end - t.begin)));
    continuation = continuation || t.token.rfind("##", 0) == 0;
  }
  EXPECT_NEAR(norm, 1.0, 1e-12);
  // Words: every non-special token in exactly one word; scores are sums.
  std::size_t covered = 0;
  for (const auto& w : e.words) {
    double sum = 0;
    for (std::int64_t t = w.first_token; t <= w.last_token; ++t) sum += e.tokens[std::size_t(t)].score;
    EXPECT_NEAR(w.score, sum, 1e-12);
    covered += std::size_t(w.last_token - w.first_token + 1);
    const std::string& src = w.segment == 1 ? pair : text;
    EXPECT_EQ(w.text, src.substr(std::size_t(w.begin), std::size_t(w.end - w.begin)));
  }
  EXPECT_EQ(covered, e.tokens.size() - 3);  // [CLS] a [SEP] b [SEP]
  EXPECT_EQ(e.words.size(), 6u) << "The plotting was lovely / boring actors";
  if (!continuation) GTEST_LOG_(INFO) << "no wordpiece continuation in this vocabulary";
}

TEST(SaliencyExplain, TargetsAndRefusals) {
  auto bundle = fathom::model::load_bundle(data().d.boe);
  attrib::SaliencySettings s;
  auto gold = attrib::explain_saliency(bundle, {example("a good film", std::nullopt, "neg")}, s,
                                       attrib::SaliencyTarget::parse("gold"), 1);
  EXPECT_EQ(gold[0].target, bundle.label_index("neg"));
  EXPECT_EQ(gold[0].prediction, bundle.label_index("pos"));
  auto named = attrib::explain_saliency(bundle, {example("a good film")}, s, attrib::SaliencyTarget::parse("neg"), 1);
  EXPECT_EQ(named[0].target, bundle.label_index("neg"));
  try {
    attrib::explain_saliency(bundle, {example("a good film")}, s, attrib::SaliencyTarget::parse("gold"), 1, "q.jsonl");
    ADD_FAILURE() << "gold without a label must be refused";
  } catch (const fathom::InputError& e) {
    EXPECT_EQ(e.file(), "q.jsonl");
    EXPECT_EQ(e.line(), 7);
    EXPECT_EQ(e.field(), "label");
  }
  EXPECT_THROW(attrib::explain_saliency(bundle, {example("x")}, s, attrib::SaliencyTarget::parse("maybe"), 1),
               fathom::UsageError);
  EXPECT_THROW(attrib::explain_saliency(bundle, {example("x")}, s, attrib::SaliencyTarget{}, 0), fathom::UsageError);
}

TEST(SaliencyRun, OutputInOrderWithMetaAndBatchIndependence) {
  fathom::testing::TempDir dir("saliency_run");
  auto comm = fathom::comm::make_communicator("local");
  attrib::SaliencyOptions o;
  // The transformer: smooth in the embeddings (the BiLSTM's max-pool has
  // kinks, and its gap at 50 points is larger: docs/drafts/saliency_serve.md).
  o.model_dir = data().d.transformer;
  o.queries = data().d.queries;
  o.out = dir.file("sub/ig.jsonl");
  o.settings.method = attrib::SaliencyMethod::integrated_gradients;
  o.batch = 5;
  o.block = 7;
  o.progress_period_s = 1e9;
  attrib::SaliencyRunResult r = attrib::saliency(o, *comm);
  EXPECT_EQ(r.examples, 23);
  auto lines = read_jsonl(o.out);
  ASSERT_EQ(lines.size(), 23u);
  auto queries = read_jsonl(data().d.queries);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["id"], queries[i]["id"]);
    const double delta = lines[i]["objective"].get<double>() - lines[i]["baseline_objective"].get<double>();
    EXPECT_LE(std::abs(lines[i]["completeness_gap"].get<double>()), 1e-3 * std::abs(delta)) << "relative gap, line " << i;
  }
  EXPECT_EQ(lines[0]["settings"]["rule"], "gauss-legendre");
  EXPECT_EQ(lines[0]["settings"]["steps"], 50);
  auto meta = read_json(o.out + ".meta.json");
  EXPECT_EQ(meta["format"], "fathom-saliency-meta");
  EXPECT_EQ(meta["n"], 23);
  EXPECT_EQ(meta["method"], "ig");
  EXPECT_GT(meta["completeness_gap"]["max_abs"].get<double>(), 0.0) << meta.dump();
  EXPECT_TRUE(meta["sanity"].is_null());
  // Another batch size: the same scores up to float summation order.
  o.batch = 23;
  o.out = dir / "ig23.jsonl";
  attrib::saliency(o, *comm);
  auto other = read_jsonl(o.out);
  for (std::size_t i = 0; i < lines.size(); ++i)
    for (std::size_t t = 0; t < lines[i]["tokens"].size(); ++t)
      EXPECT_NEAR(lines[i]["tokens"][t]["score"].get<double>(), other[i]["tokens"][t]["score"].get<double>(), 1e-5);
}

TEST(SaliencyRun, RefusalsWriteNothing) {
  fathom::testing::TempDir dir("saliency_refuse");
  auto comm = fathom::comm::make_communicator("local");
  attrib::SaliencyOptions o;
  o.model_dir = data().d.boe;
  o.queries = data().d.queries;
  o.out = dir / "x.jsonl";
  o.target = attrib::SaliencyTarget::parse("maybe");
  EXPECT_THROW(attrib::saliency(o, *comm), fathom::Error);
  o.target = attrib::SaliencyTarget{};
  o.settings.method = attrib::SaliencyMethod::integrated_gradients;
  o.settings.steps = 0;
  EXPECT_THROW(attrib::saliency(o, *comm), fathom::UsageError);
  EXPECT_FALSE(std::filesystem::exists(o.out));
  EXPECT_FALSE(std::filesystem::exists(o.out + ".meta.json"));
}

TEST(SaliencySanity, CascadeBlocksAndRandomisation) {
  auto m = fathom::saliency_testing::tiny_double_model("transformer");
  auto blocks = attrib::cascade_blocks(*m);
  ASSERT_GE(blocks.size(), 3u);
  EXPECT_EQ(blocks.front().name, "classifier");
  std::size_t params = 0;
  for (const auto& b : blocks) params += b.parameters.size();
  EXPECT_EQ(params, m->named_parameters().size()) << "every parameter in exactly one block";
  auto a = fathom::saliency_testing::tiny_double_model("transformer"), b = fathom::saliency_testing::tiny_double_model("transformer");
  attrib::randomize_parameters(*a, blocks[0].parameters, 5);
  attrib::randomize_parameters(*b, blocks[0].parameters, 5);
  auto pa = a->named_parameters(), pb = b->named_parameters(), p0 = m->named_parameters();
  for (std::size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(torch::equal(pa[i].second, pb[i].second)) << "same seed, same weights: " << pa[i].first;
    const bool in_block = std::find(blocks[0].parameters.begin(), blocks[0].parameters.end(), pa[i].first) !=
                          blocks[0].parameters.end();
    const bool constant = p0[i].second.numel() < 2 || p0[i].second.std().item<double>() == 0;
    EXPECT_EQ(torch::equal(pa[i].second, p0[i].second), !in_block || constant) << pa[i].first;
  }
}

// Adebayo et al.: after re-drawing every block, the maps of a trained model
// no longer agree with the random model's (mean Spearman < 0.5).
TEST(SaliencySanity, TrainedModelFailsToMatchRandomisedOne) {
  fathom::testing::TempDir dir("saliency_sanity");
  auto comm = fathom::comm::make_communicator("local");
  attrib::SaliencyOptions o;
  o.model_dir = data().d.transformer;
  o.queries = data().d.queries;
  o.out = dir / "s.jsonl";
  o.settings.method = attrib::SaliencyMethod::grad_input;
  o.sanity = true;
  o.sanity_seed = 1;
  o.progress_period_s = 1e9;
  attrib::SaliencyRunResult r = attrib::saliency(o, *comm);
  ASSERT_FALSE(r.sanity.empty());
  EXPECT_EQ(r.sanity.front().randomized, std::vector<std::string>{"classifier"});
  ASSERT_TRUE(r.sanity.back().mean_spearman.has_value());
  EXPECT_LT(*r.sanity.back().mean_spearman, 0.5);
  auto meta = read_json(o.out + ".meta.json");
  EXPECT_EQ(meta["sanity"]["stages"].size(), r.sanity.size());
  for (const auto& st : r.sanity)
    GTEST_LOG_(INFO) << "randomised through " << st.randomized.back() << ": mean Spearman "
                     << (st.mean_spearman ? *st.mean_spearman : std::nan(""));
}

}  // namespace
