// `fathom audit` at 2 and 3 ranks equals 1 rank: the merged token-label
// counts exactly, and the outputs (tokens.tsv byte for byte; report.json and
// report.html but for times and memory). One process is a local communicator
// on rank 0. A bad record in the last rank's shard fails every rank.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fathom/audit/audit.h"
#include "fathom/core/error.h"
#include "fathom/data/shard.h"
#include "mpi_gtest.h"
#include "test_files.h"

namespace {

namespace audit = fathom::audit;
using fathom::testing::slurp;

fathom::comm::Communicator* g_comm = nullptr;
std::string g_dir;

bool agreed(bool on_root) { return fathom::testing::agreed(*g_comm, on_root); }
std::string path(const std::string& leaf) { return g_dir + "/" + leaf; }

// A corpus whose labels appear first in a different order in every shard,
// with repeated words (once-per-example counting) and pairs on most records;
// kNN and self-influence files over its ids (cross-references gather texts
// from every rank).
void write_data() {
  const char* words[] = {"alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta", "iota", "kappa",
                         "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon"};
  const char* labels[] = {"c", "a", "b"};
  std::ofstream c(path("corpus.jsonl")), k(path("knn.jsonl")), s(path("si.jsonl"));
  std::uint64_t x = 12345;
  auto next = [&] {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return std::uint32_t(x >> 33);
  };
  for (int i = 0; i < 997; ++i) {
    const int label = int(next() % 3);
    const std::string name = labels[(label + i / 400) % 3];  // first-seen order differs between shards
    std::string text, pair;
    const int n = 3 + int(next() % 8);
    for (int w = 0; w < n; ++w) text += std::string(w ? " " : "") + words[next() % 20];
    if (name == "a" && next() % 3 == 0) text += " marker";  // a planted artifact of "a"
    for (int w = 0; w < 3; ++w) pair += std::string(w ? " " : "") + words[next() % 20];
    c << "{\"id\":\"e" << i << "\",\"text\":\"" << text << "\"";
    if (i % 5) c << ",\"text_pair\":\"" << pair << "\"";
    c << ",\"label\":\"" << name << "\"}\n";
    k << "{\"id\":\"e" << i << "\",\"disagreement\":" << (next() % 11) / 10.0 << "}\n";
    s << "{\"id\":\"e" << i << "\",\"score\":" << (next() % 1000) / 7.0 << "}\n";
  }
}

audit::AuditOptions options(const std::string& out) {
  audit::AuditOptions o;
  o.corpus = path("corpus.jsonl");
  o.field = "both";
  o.ngrams = 3;
  o.knn_suspects = path("knn.jsonl");
  o.self_influence = path("si.jsonl");
  o.suspects = 30;
  o.out = path(out);
  o.progress = false;
  return o;
}

TEST(AuditRanks, MergedCountsEqualOneCount) {
  const audit::AuditOptions o = options("unused");
  const std::int64_t n = fathom::data::count_records(o.corpus, o.corpus_options);
  std::unordered_map<std::string, audit::KeptExample> kept;
  std::int64_t skipped = 0;
  const audit::Tokenize tok = audit::audit_tokenizer(o);
  audit::TokenLabelCounts mine =
      audit::count_shard(o, fathom::data::shard_range(n, g_comm->rank(), g_comm->size()), tok, {}, kept,
                         [](std::int64_t) {}, skipped);
  audit::TokenLabelCounts merged = audit::merge_counts(std::move(mine), {}, *g_comm);
  bool same = false;
  if (g_comm->is_root()) {
    const audit::TokenLabelCounts whole = audit::count_shard(o, {}, tok, {}, kept, [](std::int64_t) {}, skipped);
    EXPECT_EQ(merged.labels(), (std::vector<std::string>{"a", "b", "c"})) << "sorted, whatever the shards saw first";
    EXPECT_EQ(merged.examples(), whole.examples());
    EXPECT_EQ(merged.tokens(), whole.tokens());
    std::int64_t differ = 0;
    for (std::uint32_t id = 0; id < whole.tokens(); ++id) {
      const std::int64_t m = merged.find(whole.token(id));
      if (m < 0) {
        ++differ;
        continue;
      }
      for (std::size_t y = 0; y < whole.labels().size(); ++y) {
        const int my = int(std::find(merged.labels().begin(), merged.labels().end(), whole.labels()[y]) -
                           merged.labels().begin());
        differ += merged.count(std::uint32_t(m), my) != whole.count(id, int(y));
        if (id == 0) EXPECT_EQ(merged.label_examples(my), whole.label_examples(int(y)));
      }
    }
    EXPECT_EQ(differ, 0);
    EXPECT_GT(whole.tokens(), 1000u);
    same = differ == 0 && merged.tokens() == whole.tokens();
  }
  EXPECT_TRUE(agreed(same));
}

// report.json without what depends on the run (times, memory, creation time).
nlohmann::json stable_report(const std::string& dir) {
  nlohmann::json r = fathom::testing::read_json(dir + "/report.json");
  for (const char* k : {"timing", "memory", "created_at"}) r.erase(k);
  return r;
}

std::string html_without_footer(const std::string& dir) {
  const std::string h = slurp(dir + "/report.html");
  return h.substr(0, h.find("<p class=\"muted\" style=\"margin-top:32px\">"));
}

TEST(AuditRanks, OutputsEqualOneRank) {
  const std::string n = std::to_string(g_comm->size());
  const audit::AuditSummary s = audit::run_audit(options("np" + n), *g_comm);
  EXPECT_EQ(s.examples, 997);
  bool same = false;
  if (g_comm->is_root()) {
    auto one = fathom::comm::make_communicator("local");
    audit::run_audit(options("np1"), *one);
    const std::string a = path("np1"), b = path("np" + n);
    const bool tsv = slurp(a + "/tokens.tsv") == slurp(b + "/tokens.tsv");
    const bool json = stable_report(a) == stable_report(b);
    const bool html = html_without_footer(a) == html_without_footer(b);
    EXPECT_TRUE(tsv) << "tokens.tsv differs";
    EXPECT_TRUE(json) << "report.json differs";
    EXPECT_TRUE(html) << "report.html differs";
    const auto r = stable_report(b);
    EXPECT_EQ(r["top_tokens"]["a"][0]["token"], "marker");
    EXPECT_EQ(r["mislabels"].size(), 30u);
    std::int64_t with_text = 0;
    for (const auto& m : r["mislabels"]) with_text += m["text"].is_string();
    EXPECT_EQ(with_text, 30) << "texts gathered from every rank's shard";
    same = tsv && json && html;
  }
  EXPECT_TRUE(agreed(same));
}

TEST(AuditRanks, BadRecordInTheLastShardFailsEveryRank) {
  if (g_comm->is_root()) {
    std::ofstream c(path("bad.jsonl"));
    for (int i = 0; i < 30; ++i) c << "{\"id\":" << i << ",\"text\":\"w" << i % 4 << "\",\"label\":\"" << i % 2 << "\"}\n";
    c << "{\"id\":30,\"text\":\"no label\"}\n";
  }
  g_comm->barrier();
  audit::AuditOptions o = options("bad");
  o.corpus = path("bad.jsonl");
  o.knn_suspects.clear();
  o.self_influence.clear();
  int kind = -1;
  try {
    audit::run_audit(o, *g_comm);
  } catch (const fathom::Error& e) {
    kind = int(e.kind());
    if (g_comm->rank() == g_comm->size() - 1) {
      EXPECT_NE(std::string(e.what()).find("bad.jsonl:31: field 'label'"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(kind, int(fathom::ErrorKind::Input)) << "every rank fails with an input error";
  g_comm->barrier();
  EXPECT_FALSE(std::filesystem::exists(path("bad/report.json")));
}

}  // namespace

int main(int argc, char** argv) {
  auto comm = fathom::testing::start_mpi_gtest(&argc, argv);
  g_comm = comm.get();
  g_dir = fathom::testing::root_temp_path(*comm, "audit-mpi");
  if (comm->is_root()) {
    std::filesystem::create_directories(g_dir);
    write_data();
  }
  comm->barrier();
  return fathom::testing::finish_mpi_gtest(*comm, g_dir);
}
