// Corpus statistics and the `stats` pipeline (compute_corpus_stats) against
// values worked out by hand for a four-record corpus, and a simulated group
// of ranks against a single reader.
#include "fathom/data/compute_stats.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fathom/core/error.h"
#include "fathom/data/corpus_stats.h"
#include "data/temp_dir_fixture.h"

using fathom::data::compute_corpus_stats;
using fathom::data::CorpusStats;
using fathom::data::ShardGroup;
using fathom::data::StatsOptions;
using nlohmann::json;

namespace {

// Record 2 repeats record 1's text; record 3 has a pair, accents and
// punctuation; record 4 is unlabelled.
const char* const kCorpus =
    "{\"id\": \"1\", \"text\": \"Hello world\", \"label\": \"pos\"}\n"
    "{\"id\": \"2\", \"text\": \"Hello world\", \"label\": \"neg\"}\n"
    "{\"id\": \"3\", \"text\": \"H\xC3\xA9llo, w\xC3\xB6rld!\", \"text_pair\": \"ok\", \"label\": \"pos\"}\n"
    "{\"id\": \"4\", \"text\": \"a\"}\n";

// By hand. Code points (text + pair): 11, 11, 13 + 2 = 15, 1. Words
// (lowercased, accents stripped, punctuation split): hello world | hello
// world | hello , world ! ok | a -> 2, 2, 5, 1 tokens; 6 distinct.
const char* const kText =
    "examples:        4 (1 with text_pair)\n"
    "labels:\n"
    "  neg                           1   25.0%\n"
    "  pos                           2   50.0%\n"
    "  (unlabeled)          1\n"
    "duplicate texts: 1\n"
    "text length (chars): min 1, mean 9.5, p50 11, p95 15, max 15\n"
    "  [     1,      2)          1 #############\n"  // 40 * 1/3, rounded
    "  [     8,     16)          3 ########################################\n"
    "tokens:          10 (0 unknown)\n"
    "vocabulary size: 6\n"
    "tokens per example: min 1, mean 2.5, p50 2, p95 5, max 5\n"
    "  [     1,      2)          1 ####################\n"
    "  [     2,      4)          2 ########################################\n"
    "  [     4,      8)          1 ####################\n";

class CorpusStatsTest : public fathom::test::TempDirTest {
 protected:
  StatsOptions options(const std::string& corpus) {
    StatsOptions o;
    o.corpus = write("c.jsonl", corpus);
    return o;
  }
};

TEST_F(CorpusStatsTest, WholeCorpusMatchesHandCount) {
  std::optional<CorpusStats> s = compute_corpus_stats(options(kCorpus));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->examples(), 4);
  EXPECT_EQ(s->with_pair(), 1);
  EXPECT_EQ(s->label_counts(), (std::map<std::string, std::int64_t>{{"neg", 1}, {"pos", 2}}));
  EXPECT_EQ(s->unlabeled(), 1);
  EXPECT_EQ(s->duplicate_texts(), 1);
  EXPECT_EQ(s->tokens(), 10);
  EXPECT_EQ(s->vocabulary_size(), 6);
  EXPECT_EQ(s->to_text(), kText);
}

TEST_F(CorpusStatsTest, JsonReportFields) {
  json j = json::parse(compute_corpus_stats(options(kCorpus))->to_json());
  EXPECT_EQ(j["format_version"], 1);
  EXPECT_EQ(j["examples"], 4);
  EXPECT_EQ(j["with_text_pair"], 1);
  EXPECT_EQ(j["labels"], (json{{"neg", 1}, {"pos", 2}}));
  EXPECT_EQ(j["unlabeled"], 1);
  EXPECT_EQ(j["duplicate_texts"], 1);
  EXPECT_EQ(j["text_length_chars"]["min"], 1);
  EXPECT_EQ(j["text_length_chars"]["max"], 15);
  EXPECT_DOUBLE_EQ(j["text_length_chars"]["mean"].get<double>(), 9.5);
  EXPECT_EQ(j["text_length_chars"]["p50"], 11);
  EXPECT_EQ(j["text_length_chars"]["p95"], 15);
  EXPECT_EQ(j["text_length_chars"]["histogram"],
            json::parse(R"([{"from": 1, "to": 2, "count": 1}, {"from": 8, "to": 16, "count": 3}])"));
  EXPECT_EQ(j["tokens"], 10);
  EXPECT_EQ(j["vocabulary_size"], 6);
  EXPECT_EQ(j["unk_tokens"], 0);
  EXPECT_EQ(j["token_count"]["histogram"],
            json::parse(R"([{"from": 1, "to": 2, "count": 1}, {"from": 2, "to": 4, "count": 2},
                            {"from": 4, "to": 8, "count": 1}])"));
}

TEST_F(CorpusStatsTest, VocabularyCountsUnknownWords) {
  StatsOptions o = options(kCorpus);
  o.vocab = write("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n");
  std::optional<CorpusStats> s = compute_corpus_stats(o);
  // Unknown: ",", "!", "ok", "a".
  EXPECT_EQ(s->tokens(), 10);
  EXPECT_EQ(s->unk_tokens(), 4);
  EXPECT_EQ(s->vocabulary_size(), 3);  // hello, world, [UNK]
  o.tokenizer = "wordpiece";
  s = compute_corpus_stats(o);
  EXPECT_EQ(s->unk_tokens(), 4);
  EXPECT_EQ(s->tokens(), 10);
}

TEST_F(CorpusStatsTest, OptionErrors) {
  StatsOptions o = options(kCorpus);
  o.tokenizer = "wordpiece";
  EXPECT_THROW(compute_corpus_stats(o), fathom::UsageError);  // no vocabulary
  o.tokenizer = "bpe";
  EXPECT_THROW(compute_corpus_stats(o), fathom::UsageError);
  o.tokenizer = "word";
  o.vocab = (dir_ / "missing.txt").string();
  EXPECT_THROW(compute_corpus_stats(o), fathom::InputError);
  o = options("{\"id\": \"1\", \"text\": \"\"}\n");
  try {
    compute_corpus_stats(o);
    ADD_FAILURE() << "no error for an empty text";
  } catch (const fathom::InputError& e) {
    EXPECT_EQ(e.file(), o.corpus);
    EXPECT_EQ(e.line(), 1);
    EXPECT_EQ(e.field(), "text");
  }
}

// Three ranks run one after another: ranks 1 and 2 hand their partial
// statistics to a fake gather, rank 0 receives all three. The merge must equal
// one reader over the whole file, and each rank must have read only its shard.
TEST_F(CorpusStatsTest, ShardsMergedOnRootEqualOneReader) {
  StatsOptions o = options(kCorpus);
  std::map<int, std::string> sent;
  std::vector<std::int64_t> summed;
  auto group = [&](int rank) {
    ShardGroup g;
    g.rank = rank;
    g.size = 3;
    g.sum = [&summed](std::int64_t v) {
      summed.push_back(v);
      return v;
    };
    g.gather_to_root = [&sent, rank](const std::string& bytes) {
      sent[rank] = bytes;
      return rank == 0 ? std::vector<std::string>{bytes, sent.at(1), sent.at(2)} : std::vector<std::string>{};
    };
    return g;
  };
  EXPECT_FALSE(compute_corpus_stats(o, group(2)).has_value());
  EXPECT_FALSE(compute_corpus_stats(o, group(1)).has_value());
  std::optional<CorpusStats> merged = compute_corpus_stats(o, group(0));
  ASSERT_TRUE(merged.has_value());
  // shard_range(4, r, 3): 2, 1, 1 records.
  EXPECT_EQ(CorpusStats::deserialize(sent.at(0)).examples(), 2);
  EXPECT_EQ(CorpusStats::deserialize(sent.at(1)).examples(), 1);
  EXPECT_EQ(CorpusStats::deserialize(sent.at(2)).examples(), 1);
  EXPECT_EQ(summed, (std::vector<std::int64_t>{0, 0, 0}));  // no skipped records
  EXPECT_EQ(merged->to_text(), kText);
  EXPECT_EQ(merged->to_json(), compute_corpus_stats(o)->to_json());
}

TEST_F(CorpusStatsTest, SkippedRecordsAreSummedAcrossTheGroup) {
  StatsOptions o = options(std::string(kCorpus) + "not json\n{\"id\": \"6\", \"text\": 5}\n");
  o.corpus_options.on_error = fathom::data::CorpusOptions::OnError::skip;
  std::vector<std::int64_t> summed;
  ShardGroup g;
  g.sum = [&summed](std::int64_t v) {
    summed.push_back(v);
    return v;
  };
  auto level = spdlog::get_level();
  spdlog::set_level(spdlog::level::err);  // the skip warnings are expected
  std::optional<CorpusStats> s = compute_corpus_stats(o, g);
  spdlog::set_level(level);
  EXPECT_EQ(summed, (std::vector<std::int64_t>{2}));
  EXPECT_EQ(s->examples(), 4);
  EXPECT_EQ(s->to_text(), kText);
}

TEST_F(CorpusStatsTest, RootChecksItGotEveryShard) {
  ShardGroup g;
  g.size = 2;  // rank 0 of 2, but the gather returns one part
  g.gather_to_root = [](const std::string& bytes) { return std::vector<std::string>{bytes}; };
  EXPECT_THROW(compute_corpus_stats(options(kCorpus), g), fathom::Error);
}

TEST(CorpusStats, SerializeRoundTripAndBadBytes) {
  CorpusStats s([](std::string_view t) { return std::vector<std::string>{std::string(t)}; });
  fathom::data::Example e;
  e.text = "x";
  e.label = "l";
  s.add(e);
  s.add(e);
  CorpusStats back = CorpusStats::deserialize(s.serialize());
  EXPECT_EQ(back.examples(), 2);
  EXPECT_EQ(back.duplicate_texts(), 1);
  EXPECT_EQ(back.tokens(), 2);
  EXPECT_EQ(back.label_counts().at("l"), 2);
  EXPECT_THROW(CorpusStats::deserialize("not json"), fathom::Error);
  EXPECT_THROW(CorpusStats::deserialize("{\"examples\": 1}"), fathom::Error);
}

}  // namespace
