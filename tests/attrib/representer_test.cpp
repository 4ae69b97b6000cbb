// Representer points (attrib/representer.h) against independent computations:
// plain autograd for stationarity, the hand formula for α, the model contract
// for query features, a brute-force sort for the top-k lists.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

#include "attrib/representer_fixture.h"
#include "cli/fathom_process.h"
#include "fathom/attrib/representer.h"
#include "fathom/attrib/representer_head.h"
#include "fathom/core/error.h"

namespace fathom::attrib {
namespace {

using namespace representer_testing;

class RepresenterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    comm_ = comm::make_communicator("local");
    data_ = build_representer_data(fs::temp_directory_path() / ("fathom-representer-" + std::to_string(::getpid())),
                                   *comm_);
    l2_ = new Run(run(data_.l2_model, data_.l2_cache, "l2"));
    plain_ = new Run(run(data_.plain_model, data_.plain_cache, "plain"));
  }
  static void TearDownTestSuite() {
    delete l2_;
    delete plain_;
    if (!std::getenv("FATHOM_KEEP_TEST_DIR")) fs::remove_all(data_.dir);
    comm_.reset();
  }

  struct Run {
    RepresenterOptions options;
    RepresenterResult result;
  };

  static RepresenterOptions options_for(const std::string& model, const std::string& cache, const std::string& name) {
    RepresenterOptions o;
    o.model_dir = model;
    o.cache = cache;
    o.queries = data_.queries;
    o.out = (data_.dir / (name + "/rep.jsonl")).string();
    o.top = 5;
    o.batch = 8;
    o.threads = 1;
    return o;
  }
  static Run run(const std::string& model, const std::string& cache, const std::string& name) {
    Run r;
    r.options = options_for(model, cache, name);
    r.result = representer(r.options, *comm_);
    return r;
  }

  // The head the run explains: the fitted one, else the model's.
  static HeadTensors head_of(const Run& r) {
    return r.result.fitted ? read_head_json(r.options.out + ".head.json") : model_head_tensors(r.options.model_dir);
  }

  // Σ_i α_i f_iᵀ f_t + b for the queries, from the α file and the cache read
  // back, compared with the head's logits on features computed independently.
  static void expect_reproduces_logits(const Run& r, const std::string& cache) {
    const CacheTables t(cache);
    const torch::Tensor alpha = read_alpha(r.options.out + ".alpha.h5");
    const HeadTensors head = head_of(r);
    const torch::Tensor queries = forward_features(r.options.model_dir, r.options.queries);
    const torch::Tensor logits = torch::matmul(queries, head.weight.t()) + head.bias;
    const torch::Tensor decomposed = torch::matmul(torch::matmul(queries, t.features.t()), alpha) + head.bias;
    const double p = pearson(decomposed, logits);
    const double err = (decomposed - logits).abs().max().item<double>();
    std::printf("[ reproduction ] %s: Pearson %.8f, max abs error %.3g (meta: %.8f, %.3g)\n", r.options.out.c_str(),
                p, err, r.result.pearson.value_or(-1), r.result.max_abs_error);
    EXPECT_GE(p, 0.99);
    EXPECT_LT(err, 1e-2 * std::max(1.0, logits.abs().max().item<double>()));
    // The meta file reports the same agreement.
    const auto meta = read_json(r.result.meta_path);
    EXPECT_GE(meta["reproduction"]["pearson"].get<double>(), 0.99);
    EXPECT_NEAR(meta["reproduction"]["max_abs_error"].get<double>(), err, 1e-3 + 0.05 * err);
  }

  static std::unique_ptr<comm::Communicator> comm_;
  static RepresenterData data_;
  static Run* l2_;
  static Run* plain_;
};

std::unique_ptr<comm::Communicator> RepresenterTest::comm_;
RepresenterData RepresenterTest::data_;
RepresenterTest::Run* RepresenterTest::l2_ = nullptr;
RepresenterTest::Run* RepresenterTest::plain_ = nullptr;

TEST_F(RepresenterTest, LambdaComesFromTrainingL2LastElseTheDefault) {
  EXPECT_DOUBLE_EQ(l2_->result.lambda, kTrainL2Last);
  EXPECT_EQ(l2_->result.lambda_source, "training --l2-last");
  EXPECT_DOUBLE_EQ(plain_->result.lambda, kDefaultLambda);
  EXPECT_EQ(plain_->result.lambda_source, "default");
  double lambda = 0;
  read_alpha(l2_->options.out + ".alpha.h5", &lambda);
  EXPECT_DOUBLE_EQ(lambda, kTrainL2Last);
}

TEST_F(RepresenterTest, DecompositionReproducesLogitsOfModelTrainedWithL2Last) {
  expect_reproduces_logits(*l2_, data_.l2_cache);
}

TEST_F(RepresenterTest, DecompositionReproducesLogitsAfterTheHeadFitWithoutL2Last) {
  EXPECT_TRUE(plain_->result.fitted);
  expect_reproduces_logits(*plain_, data_.plain_cache);
}

TEST_F(RepresenterTest, FittedHeadIsStationaryByPlainAutograd) {
  for (const Run* r : {l2_, plain_}) {
    const CacheTables t(r->options.cache);
    const double before = autograd_gradient_norm(t, model_head_tensors(r->options.model_dir), r->result.lambda);
    const double after = autograd_gradient_norm(t, head_of(*r), r->result.lambda);
    std::printf("[ stationarity ] %s: gradient norm %.3g -> %.3g in %lld iterations\n", r->options.out.c_str(),
                before, after, static_cast<long long>(r->result.iterations));
    EXPECT_NEAR(before, r->result.gradient_norm_before, 1e-9 + 1e-6 * before);
    EXPECT_TRUE(r->result.converged);
    EXPECT_LE(after, r->options.tolerance * 1.01);
    if (before > r->options.tolerance) EXPECT_TRUE(r->result.fitted);
  }
}

TEST_F(RepresenterTest, AlphaMatchesTheHandFormula) {
  for (const Run* r : {l2_, plain_}) {
    const CacheTables t(r->options.cache);
    const torch::Tensor expected = hand_alpha(t, head_of(*r), r->result.lambda);
    const torch::Tensor alpha = read_alpha(r->options.out + ".alpha.h5");
    ASSERT_EQ(alpha.sizes(), expected.sizes());
    const double scale = expected.abs().max().item<double>();
    EXPECT_LT((alpha - expected).abs().max().item<double>(), 1e-6 * scale);
    for (std::int64_t i = 0; i < t.rows; ++i)
      if (t.labels[std::size_t(i)] < 0) EXPECT_EQ(alpha[i].abs().sum().item<double>(), 0.0) << "row " << i;
    // At stationarity W = Σ α_i f_iᵀ.
    const torch::Tensor w = torch::matmul(expected.t(), t.features);
    EXPECT_LT((w - head_of(*r).weight).abs().max().item<double>(), 1e-3);
  }
}

TEST_F(RepresenterTest, TopListsEqualABruteForceSortOfAllValues) {
  for (const Run* r : {l2_, plain_}) {
    const CacheTables t(r->options.cache);
    const HeadTensors head = head_of(*r);
    const torch::Tensor alpha = hand_alpha(t, head, r->result.lambda);
    const torch::Tensor queries = forward_features(r->options.model_dir, r->options.queries);
    const auto lines = read_jsonl(r->options.out);
    ASSERT_EQ(std::int64_t(lines.size()), queries.size(0));
    const auto expected_ids = data::read_corpus(r->options.queries, data::CorpusOptions{});
    const std::int64_t k = r->options.top;
    std::int64_t negative = 0;  // inhibitory values below 0: the data makes the check meaningful
    for (std::int64_t q = 0; q < queries.size(0); ++q) {
      const auto& line = lines[std::size_t(q)];
      EXPECT_EQ(line["id"], expected_ids[std::size_t(q)].id);
      const std::int64_t c = (torch::matmul(head.weight, queries[q]) + head.bias).argmax().item<std::int64_t>();
      EXPECT_EQ(line["prediction"], t.label_names[std::size_t(c)]);
      // value_i = α_ic f_iᵀ f_t over every row, sorted both ways (ties by row).
      const torch::Tensor v = alpha.select(1, c) * torch::matmul(t.features, queries[q]);
      std::vector<std::int64_t> order(std::size_t(t.rows));
      for (std::int64_t i = 0; i < t.rows; ++i) order[std::size_t(i)] = i;
      auto va = v.accessor<double, 1>();
      for (const char* list : {"excitatory", "inhibitory"}) {
        const bool largest = std::string(list) == "excitatory";
        std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
          if (va[a] != va[b]) return largest ? va[a] > va[b] : va[a] < va[b];
          return a < b;
        });
        const auto& got = line[list];
        ASSERT_EQ(std::int64_t(got.size()), k) << list;
        for (std::int64_t j = 0; j < k; ++j) {
          const std::int64_t want = order[std::size_t(j)];
          const double want_value = va[want];
          const double got_value = got[std::size_t(j)]["value"].get<double>();
          negative += !largest && got_value < 0 ? 1 : 0;
          EXPECT_NEAR(got_value, want_value, 1e-5 * std::abs(want_value) + 1e-9) << list << " query " << q;
          // The same row, unless its value ties with the expected one.
          if (got[std::size_t(j)]["id"] != t.ids[std::size_t(want)])
            EXPECT_NEAR(got_value, want_value, 1e-6 * std::abs(want_value)) << list << " query " << q << " #" << j;
          else {
            const std::int64_t y = t.labels[std::size_t(want)];
            if (y < 0)
              EXPECT_TRUE(got[std::size_t(j)]["label"].is_null());
            else
              EXPECT_EQ(got[std::size_t(j)]["label"], t.label_names[std::size_t(y)]);
          }
        }
      }
    }
    EXPECT_GT(negative, queries.size(0)) << "the test data gives (almost) no inhibitory training points";
  }
}

TEST_F(RepresenterTest, NoFitWhenTheModelHeadIsWithinTolerance) {
  RepresenterOptions o = options_for(data_.l2_model, data_.l2_cache, "no-fit");
  o.tolerance = 1.0;  // the model's head is within it
  const RepresenterResult r = representer(o, *comm_);
  EXPECT_FALSE(r.fitted);
  EXPECT_EQ(r.iterations, 0);
  EXPECT_FALSE(fs::exists(o.out + ".head.json"));
  EXPECT_TRUE(read_json(r.meta_path)["fit"]["head"].is_null());
  // α at the model's own head.
  const CacheTables t(o.cache);
  const torch::Tensor expected = hand_alpha(t, model_head_tensors(o.model_dir), r.lambda);
  EXPECT_LT((read_alpha(o.out + ".alpha.h5") - expected).abs().max().item<double>(),
            1e-6 * expected.abs().max().item<double>());
}

TEST_F(RepresenterTest, ReductionPlanIsWholeChunksAndIndependentOfRanks) {
  const ReductionPlan p = ReductionPlan::make(1000, 16, 7);
  EXPECT_EQ(p.block_rows % 16, 0);
  EXPECT_LE(p.blocks, 7);
  std::int64_t covered = 0;
  for (std::int64_t b = 0; b < p.blocks; ++b) {
    EXPECT_EQ(p.block(b).begin, covered);
    covered += p.block(b).count;
  }
  EXPECT_EQ(covered, 1000);
  for (int size : {1, 2, 3, 10}) {
    std::int64_t next = 0;
    for (int rank = 0; rank < size; ++rank) {
      EXPECT_EQ(p.rank_rows(rank, size).begin, next);
      next = p.rank_rows(rank, size).end();
    }
    EXPECT_EQ(next, 1000);
  }
}

// Every failure: exit code 2, no output written, an existing output untouched.
TEST_F(RepresenterTest, BadInputExitsTwoAndWritesNothing) {
  struct Case {
    std::string name;
    std::function<void(RepresenterOptions&)> edit;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"mismatched model and cache", [](RepresenterOptions& o) { o.cache = data_.plain_cache; }, "was not built from"},
      {"lambda 0", [](RepresenterOptions& o) { o.lambda = 0.0; }, "--lambda must be > 0"},
      {"lambda < 0", [](RepresenterOptions& o) { o.lambda = -1e-3; }, "--lambda must be > 0"},
      {"top 0", [](RepresenterOptions& o) { o.top = 0; }, "--top must be >= 1"},
      {"top < 0", [](RepresenterOptions& o) { o.top = -2; }, "--top must be >= 1"},
      {"top > rows", [](RepresenterOptions& o) { o.top = 100000; }, "larger than the cache"},
      {"missing queries", [](RepresenterOptions& o) { o.queries += ".missing"; }, "missing"},
  };
  for (const auto& c : cases) {
    RepresenterOptions o = options_for(data_.l2_model, data_.l2_cache, "bad");
    fs::create_directories(fs::path(o.out).parent_path());
    {
      std::ofstream old(o.out);
      old << "old\n";
    }
    c.edit(o);
    int code = -1;
    std::string what;
    try {
      representer(o, *comm_);
    } catch (const std::exception& e) {
      code = exit_code_for(e);
      what = describe(e);
    }
    EXPECT_EQ(code, 2) << c.name << ": " << what;
    EXPECT_NE(what.find(c.message), std::string::npos) << c.name << ": " << what;
    EXPECT_EQ(file_text(o.out), "old\n") << c.name;
    for (const char* suffix : {".meta.json", ".alpha.h5", ".head.json"})
      EXPECT_FALSE(fs::exists(o.out + suffix)) << c.name << ": " << suffix;
  }
}

// The command line: exit 2 and nothing written for bad input, 0 and the
// outputs for a good run.
TEST_F(RepresenterTest, CommandLineExitCodesAndOutputs) {
  const std::string dir = (data_.dir / "cli").string();
  fs::create_directories(dir);
  const std::string out = dir + "/rep.jsonl";
  const std::string base = "--threads 1 representer --model " + data_.l2_model + " --cache " + data_.l2_cache + " --queries " +
                           data_.queries + " --out " + out;
  const std::vector<std::pair<std::string, std::string>> bad = {
      {" --lambda 0", "--lambda must be > 0"},
      {" --lambda -0.5", "--lambda must be > 0"},
      {" --top 0", "--top must be >= 1"},
      {" --top -3", "--top must be >= 1"},
  };
  for (const auto& [flags, message] : bad) {
    const auto r = cli::testing::run_fathom(base + flags);
    EXPECT_EQ(r.code, 2) << flags << ": " << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << flags << ": " << r.output;
    EXPECT_FALSE(fs::exists(out)) << flags;
  }
  const auto mismatched = cli::testing::run_fathom("representer --model " + data_.l2_model + " --cache " +
                                                   data_.plain_cache + " --queries " + data_.queries + " --out " + out);
  EXPECT_EQ(mismatched.code, 2) << mismatched.output;
  EXPECT_NE(mismatched.output.find("was not built from the model"), std::string::npos) << mismatched.output;
  EXPECT_FALSE(fs::exists(out));

  const auto good = cli::testing::run_fathom(base + " --top 3 --lambda 0.02");
  ASSERT_EQ(good.code, 0) << good.output;
  const auto lines = read_jsonl(out);
  EXPECT_EQ(lines.size(), 40u);
  EXPECT_EQ(lines.at(0)["excitatory"].size(), 3u);
  const auto meta = read_json(out + ".meta.json");
  EXPECT_DOUBLE_EQ(meta["lambda"].get<double>(), 0.02);
  EXPECT_EQ(meta["lambda_source"], "--lambda");
  EXPECT_TRUE(fs::exists(out + ".alpha.h5"));
  EXPECT_TRUE(fs::exists(out + ".head.json"));
}

// --corpus adds each training row's text (checked against the corpus file
// read here by id); a corpus that is not the cache's is refused before any
// output; --show prints the first queries.
TEST_F(RepresenterTest, CorpusTextsAndShow) {
  const std::string dir = (data_.dir / "texts").string();
  fs::create_directories(dir);
  const std::string out = dir + "/rep.jsonl";
  const std::string base = "--threads 1 representer --model " + data_.l2_model + " --cache " + data_.l2_cache +
                           " --queries " + data_.queries + " --top 3 --out " + out;
  const auto wrong = cli::testing::run_fathom(base + " --corpus " + data_.queries);
  EXPECT_EQ(wrong.code, 2) << wrong.output;
  EXPECT_NE(wrong.output.find("not the corpus the cache was built from"), std::string::npos) << wrong.output;
  EXPECT_FALSE(fs::exists(out));

  const auto good = cli::testing::run_fathom(base + " --corpus " + data_.cache_corpus + " --snippet 0 --show 2");
  ASSERT_EQ(good.code, 0) << good.output;
  EXPECT_NE(good.output.find("excitatory (support the prediction):"), std::string::npos) << good.output;
  std::map<std::string, std::string> text_of;
  for (const auto& record : read_jsonl(data_.cache_corpus)) text_of[record["id"].get<std::string>()] = record["text"];
  std::size_t checked = 0;
  for (const auto& line : read_jsonl(out))
    for (const char* list : {"excitatory", "inhibitory"})
      for (const auto& e : line[list]) {
        ASSERT_TRUE(e.contains("text")) << e.dump();
        EXPECT_EQ(e["text"].get<std::string>(), text_of.at(e["id"].get<std::string>())) << e.dump();
        ++checked;
      }
  EXPECT_GT(checked, 0u);
}

}  // namespace
}  // namespace fathom::attrib
