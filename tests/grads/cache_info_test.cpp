// build_cache in one process, then the read side later issues use:
// read_cache_info, check_cache_model and rank_blocks.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/data/example.h"
#include "fathom/data/tokenizer_factory.h"
#include "fathom/data/vocab.h"
#include "fathom/grads/cache_build.h"
#include "fathom/grads/cache_info.h"
#include "fathom/model/builtin.h"
#include "fathom/model/bundle.h"
#include "fathom/store/cache_reader.h"
#include "fathom/store/cache_writer.h"

namespace fs = std::filesystem;
using namespace fathom;

namespace {

const std::vector<std::string> kWords = {"good", "bad", "movie", "great", "awful", "plot", "actors", "boring"};

std::string save_model(const fs::path& dir, std::uint64_t seed) {
  std::vector<std::string> tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  tokens.insert(tokens.end(), kWords.begin(), kWords.end());
  auto tokenizer = data::make_tokenizer("word", data::Vocab::from_tokens(tokens));
  model::BuiltinConfig c;
  c.architecture = "boe";
  c.vocab_size = std::int64_t(tokens.size());
  c.num_labels = 2;
  c.embedding_dim = 6;
  c.hidden_dim = 5;
  c.seed = seed;
  auto m = model::make_builtin(c);
  model::BundleInfo info;
  info.labels = {"neg", "pos"};
  info.max_length = 16;
  model::save_bundle(dir.string(), *m, *tokenizer, info);
  return dir.string();
}

class CacheInfoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("fathom-cache-info-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::ofstream corpus(dir_ / "train.jsonl");
    std::mt19937 rng(3);
    for (int i = 0; i < kRows; ++i) {
      std::string text;
      for (int w = 0; w < 1 + int(rng() % 6); ++w) text += (w ? " " : "") + kWords[rng() % kWords.size()];
      corpus << "{\"id\": \"ex" << i << "\", \"text\": \"" << text << "\", \"label\": \"" << (rng() % 2 ? "pos" : "neg")
             << "\"}\n";
    }
    corpus.close();
    model_a_ = save_model(dir_ / "model-a", 1);
    model_b_ = save_model(dir_ / "model-b", 2);
    comm_ = comm::make_communicator("local");
    result_ = grads::build_cache(options(), *comm_);
  }
  static grads::CacheOptions options() {
    grads::CacheOptions o;
    o.model_dir = model_a_;
    o.corpus = (dir_ / "train.jsonl").string();
    o.out = (dir_ / "cache.h5").string();
    o.params = "all";
    o.project = "gaussian:16:5";
    o.batch = 4;
    o.rows_per_chunk = 8;
    return o;
  }
  static void TearDownTestSuite() {
    comm_.reset();
    fs::remove_all(dir_);
  }
  static constexpr int kRows = 50;
  static inline fs::path dir_;
  static inline std::string model_a_, model_b_;
  static inline std::unique_ptr<comm::Communicator> comm_;
  static inline grads::CacheResult result_;
};

TEST_F(CacheInfoTest, ResultAndInfoDescribeTheCache) {
  EXPECT_EQ(result_.rows, kRows);
  EXPECT_EQ(result_.chunks, 7);  // ceil(50 / 8)
  EXPECT_EQ(result_.chunks_written, 7);
  EXPECT_FALSE(result_.resumed);
  const auto reader = store::CacheReader::open((dir_ / "cache.h5").string());
  const grads::CacheInfo info = grads::read_cache_info(reader);
  EXPECT_TRUE(info.complete);
  EXPECT_EQ(info.rows, kRows);
  EXPECT_EQ(info.stored_dim, 16);
  EXPECT_EQ(info.projection, "gaussian:16:5");
  EXPECT_EQ(info.target, "gold");
  EXPECT_EQ(info.dtype, "f32");
  EXPECT_EQ(info.labels, (std::vector<std::string>{"neg", "pos"}));
  // boe: embeddings [13,6], pooler [5,6]+[5], classifier [2,5]+[2].
  EXPECT_EQ(info.params, (std::vector<std::string>{"embeddings.weight", "pooler.weight", "pooler.bias",
                                                   "classifier.weight", "classifier.bias"}));
  EXPECT_EQ(info.param_shapes, (std::vector<std::string>{"13x6", "5x6", "5", "2x5", "2"}));
  EXPECT_EQ(info.gradient_dim, 13 * 6 + 30 + 5 + 10 + 2);
  EXPECT_EQ(reader.dataset("gradients").width, 16);
  EXPECT_EQ(reader.read_strings("ids", 49, 1).at(0), "ex49");
}

TEST_F(CacheInfoTest, CheckModelFindsTheRightAndTheWrongModel) {
  const auto reader = store::CacheReader::open((dir_ / "cache.h5").string());
  const grads::CacheInfo info = grads::read_cache_info(reader);
  EXPECT_TRUE(grads::check_cache_model(info, model_a_).empty());
  const auto problems = grads::check_cache_model(info, model_b_);
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(problems.front().find("model_sha256"), std::string::npos) << problems.front();
}

TEST_F(CacheInfoTest, RankBlocksCoverEveryRowOnceAcrossRanks) {
  const auto reader = store::CacheReader::open((dir_ / "cache.h5").string());
  std::vector<float> all(std::size_t(kRows) * 16);
  reader.read_rows("gradients", 0, kRows, all.data());
  for (int size : {1, 2, 3, 7}) {
    std::vector<int> seen(kRows, 0);
    for (int rank = 0; rank < size; ++rank) {
      // Budget of 3 rows: several blocks per rank.
      auto blocks = grads::rank_blocks(reader, "gradients", rank, size, 3 * 16 * sizeof(float));
      while (blocks.next()) {
        ASSERT_EQ(blocks.width(), 16);
        for (std::int64_t r = 0; r < blocks.count(); ++r) {
          ++seen[std::size_t(blocks.begin() + r)];
          for (int c = 0; c < 16; ++c)
            ASSERT_EQ(blocks.data()[r * 16 + c], all[std::size_t((blocks.begin() + r) * 16 + c)]);
        }
      }
    }
    for (int r = 0; r < kRows; ++r) EXPECT_EQ(seen[std::size_t(r)], 1) << "row " << r << " with " << size << " ranks";
  }
}

TEST_F(CacheInfoTest, ReadCacheInfoRefusesOtherCaches) {
  store::CacheSchema schema;
  schema.rows = 4;
  schema.datasets = {{"x", 2, store::ElementType::f32}};
  const std::string path = (dir_ / "other.h5").string();
  {
    auto w = store::CacheWriter::create(path, schema, *comm_);
    std::vector<float> v(8, 1.0f);
    w.write_rows("x", 0, 4, v.data());
    w.finalize();
  }
  const auto reader = store::CacheReader::open(path);
  EXPECT_THROW(grads::read_cache_info(reader), InputError);
}

TEST_F(CacheInfoTest, RerunOfACompleteCacheDoesNothing) {
  grads::CacheOptions o = options();
  const grads::CacheResult again = grads::build_cache(o, *comm_);
  EXPECT_TRUE(again.resumed);
  EXPECT_TRUE(again.already_complete);
  EXPECT_EQ(again.chunks_written, 0);
  // Another projection seed is refused, naming the attribute.
  o.project = "gaussian:16:6";
  try {
    grads::build_cache(o, *comm_);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("projection"), std::string::npos) << e.what();
  }
}

// Records without a gold label (--target predicted) are stored with the one
// no-label marker; the test hook sees every batch, in order; the default
// chunk size is whole batches.
TEST_F(CacheInfoTest, UnlabelledRowsHoldNoLabelAndTheHookSeesEveryBatch) {
  constexpr int kMixed = 30;
  const fs::path corpus = dir_ / "mixed.jsonl";
  std::vector<std::int64_t> want_labels;  // labels.txt order: neg = 0, pos = 1
  {
    std::ofstream out(corpus);
    for (int i = 0; i < kMixed; ++i) {
      out << "{\"id\": \"m" << i << "\", \"text\": \"" << kWords[std::size_t(i) % kWords.size()] << " movie\"";
      if (i % 3 == 0) out << ", \"label\": \"pos\"";
      if (i % 3 == 2) out << ", \"label\": \"neg\"";
      out << "}\n";
      want_labels.push_back(i % 3 == 0 ? 1 : i % 3 == 2 ? 0 : data::kNoLabel);
    }
  }
  grads::CacheOptions o = options();
  o.corpus = corpus.string();
  o.out = (dir_ / "mixed.h5").string();
  o.target = "predicted";
  o.rows_per_chunk = 0;  // the default policy
  std::vector<std::int64_t> seen;
  o.after_batch = [&](std::int64_t batches) { seen.push_back(batches); };
  const grads::CacheResult r = grads::build_cache(o, *comm_);
  // 30 rows in batches of 4: 8 batches; 64 chunks are impossible, so each
  // chunk is one whole batch.
  EXPECT_EQ(seen, (std::vector<std::int64_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(r.chunks, 8);
  const auto reader = store::CacheReader::open(o.out);
  EXPECT_EQ(reader.rows_per_chunk(), 4);
  std::vector<std::int64_t> labels(kMixed), targets(kMixed), predictions(kMixed);
  std::vector<float> logits(kMixed * 2);
  reader.read_rows("labels", 0, kMixed, labels.data());
  reader.read_rows("targets", 0, kMixed, targets.data());
  reader.read_rows("predictions", 0, kMixed, predictions.data());
  reader.read_rows("logits", 0, kMixed, logits.data());
  EXPECT_EQ(labels, want_labels);
  for (int i = 0; i < kMixed; ++i) {
    EXPECT_EQ(predictions[std::size_t(i)], logits[std::size_t(2 * i + 1)] > logits[std::size_t(2 * i)] ? 1 : 0) << i;
    EXPECT_EQ(targets[std::size_t(i)], predictions[std::size_t(i)]) << i;
  }
  // A rerun of the complete cache computes nothing: the hook is not called.
  seen.clear();
  EXPECT_TRUE(grads::build_cache(o, *comm_).already_complete);
  EXPECT_TRUE(seen.empty());
}

}  // namespace
