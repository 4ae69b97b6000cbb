// Token-label counts, PMI and z* against a brute-force count written here
// (sets of words per example, formulas evaluated in long double), and the
// merge of shard counts against one count of the whole corpus.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "fathom/audit/audit.h"
#include "fathom/audit/statistics.h"
#include "fathom/audit/token_counts.h"
#include "fathom/core/error.h"
#include "temp_dir.h"

namespace {

namespace audit = fathom::audit;
using fathom::testing::TempDir;

struct Row {
  std::string label, text, pair;
};

// Lowercase words and single spaces only, so a plain split is the word
// tokenization; repeats inside an example test the once-per-example rule.
const std::vector<Row> kRows = {
    {"pos", "the film was great great fun", "a good time"},
    {"neg", "the film was dull", "a bad time"},
    {"pos", "great acting and a great plot", "good"},
    {"neg", "dull plot and dull acting", "bad bad"},
    {"neu", "the film was a film", "a time"},
    {"pos", "fun fun fun", "good fun"},
    {"neg", "not great", "bad"},
    {"neu", "it was the plot", "the time"},
    {"pos", "the acting was great", "a good plot"},
    {"neg", "the plot was dull and the acting was dull", "bad acting"},
};

std::string write_corpus(const TempDir& dir, const std::vector<Row>& rows) {
  const std::string path = dir / "corpus.jsonl";
  std::ofstream out(path);
  for (std::size_t i = 0; i < rows.size(); ++i)
    out << "{\"id\":\"r" << i << "\",\"text\":\"" << rows[i].text << "\",\"text_pair\":\"" << rows[i].pair
        << "\",\"label\":\"" << rows[i].label << "\"}\n";
  return path;
}

std::vector<std::string> split(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> w;
  for (std::string x; in >> x;) w.push_back(x);
  return w;
}

// token -> label -> number of examples containing it (brute force).
using Brute = std::map<std::string, std::map<std::string, std::int64_t>>;
Brute brute_counts(const std::vector<Row>& rows, const std::string& field, int max_n) {
  Brute b;
  for (const Row& r : rows) {
    std::set<std::string> seen;
    std::vector<std::vector<std::string>> segs;
    if (field != "text_pair") segs.push_back(split(r.text));
    if (field != "text") segs.push_back(split(r.pair));
    for (const auto& w : segs)
      for (std::size_t i = 0; i < w.size(); ++i)
        for (int n = 1; n <= max_n && i + std::size_t(n) <= w.size(); ++n) {
          std::string g = w[i];
          for (int j = 1; j < n; ++j) g += " " + w[i + std::size_t(j)];
          seen.insert(g);
        }
    for (const auto& g : seen) ++b[g][r.label];
  }
  return b;
}

audit::TokenLabelCounts count_file(const std::string& corpus, const std::string& field, int ngrams,
                                   fathom::data::Range rows = {}) {
  audit::AuditOptions o;
  o.corpus = corpus;
  o.field = field;
  o.ngrams = ngrams;
  o.out = "unused";
  std::unordered_map<std::string, audit::KeptExample> kept;
  std::int64_t skipped = 0;
  return audit::count_shard(o, rows, audit::audit_tokenizer(o), {}, kept, [](std::int64_t) {}, skipped);
}

TEST(AuditQuantile, MatchesTabulatedNormalQuantiles) {
  // Standard normal upper quantiles (tables / scipy.stats.norm.isf).
  EXPECT_NEAR(audit::normal_upper_quantile(0.025), 1.959963984540054, 1e-12);
  EXPECT_NEAR(audit::normal_upper_quantile(0.01), 2.3263478740408408, 1e-12);
  EXPECT_NEAR(audit::normal_upper_quantile(1e-6), 4.753424308822899, 1e-10);
  EXPECT_NEAR(audit::normal_upper_quantile(1e-10), 6.361340902404056, 1e-9);
  // Far tail, against the asymptotic series Q(z) = φ(z)/z (1 - 1/z² + 3/z⁴ - 15/z⁶ + 105/z⁸ ...),
  // whose next term is below 1e-12 relative at z ≈ 37 (no erfc involved).
  const long double z = audit::normal_upper_quantile(1e-300), z2 = z * z;
  const long double series = 1 - 1 / z2 + 3 / (z2 * z2) - 15 / (z2 * z2 * z2) + 105 / (z2 * z2 * z2 * z2);
  const long double lnq = -z2 / 2 - std::log(z) - 0.5L * std::log(2 * M_PIl) + std::log(series);
  EXPECT_NEAR(double(lnq), std::log(1e-300), 1e-9);
  EXPECT_NEAR(audit::normal_upper_quantile(0.975), -1.959963984540054, 1e-12);
  EXPECT_EQ(audit::normal_upper_quantile(0.5), 0.0);
  EXPECT_THROW(audit::normal_upper_quantile(0.0), fathom::UsageError);
}

TEST(AuditCounts, EqualBruteForceForEveryFieldAndNgramSize) {
  TempDir dir("audit_counts");
  const std::string corpus = write_corpus(dir, kRows);
  for (const std::string field : {"text", "text_pair", "both"}) {
    for (int n = 1; n <= 3; ++n) {
      const Brute b = brute_counts(kRows, field, n);
      const audit::TokenLabelCounts c = count_file(corpus, field, n);
      ASSERT_EQ(c.tokens(), b.size()) << field << " n=" << n;
      EXPECT_EQ(c.examples(), std::int64_t(kRows.size()));
      for (const auto& [tok, per] : b) {
        const std::int64_t id = c.find(tok);
        ASSERT_GE(id, 0) << tok;
        for (std::size_t y = 0; y < c.labels().size(); ++y) {
          auto it = per.find(c.labels()[y]);
          EXPECT_EQ(c.count(std::uint32_t(id), int(y)), it == per.end() ? 0 : it->second)
              << field << " n=" << n << " '" << tok << "' " << c.labels()[y];
        }
      }
    }
  }
}

TEST(AuditStatistics, PmiAndZEqualTheFormulasOnBruteForceCounts) {
  TempDir dir("audit_stats");
  const std::string corpus = write_corpus(dir, kRows);
  for (double k : {100.0, 1.0, 0.5}) {
    for (std::int64_t min_count : {1, 2}) {
      const int ngrams = 2;
      const Brute b = brute_counts(kRows, "both", ngrams);
      const audit::TokenLabelCounts c = count_file(corpus, "both", ngrams);
      audit::StatisticsOptions so;
      so.smoothing = k;
      so.alpha = 0.01;
      so.min_count = min_count;
      const audit::TokenStatistics s = audit::compute_statistics(c, so);

      // Brute force: tested tokens, S_y, T, then every cell.
      std::map<std::string, long double> S;
      std::vector<std::string> tested;
      for (const auto& [tok, per] : b) {
        std::int64_t n = 0;
        for (const auto& [l, cnt] : per) n += cnt;
        if (n < min_count) continue;
        tested.push_back(tok);
        for (const auto& [l, cnt] : per) S[l] += cnt;
      }
      const long double V = tested.size(), L = 3, p0 = 1.0L / L;
      long double T = k * V * L;
      for (const auto& [l, v] : S) T += v;
      ASSERT_EQ(s.tests, std::int64_t(tested.size()));
      ASSERT_EQ(s.ids.size(), tested.size());
      // z_c: P(Z > z_c) = alpha / V, checked through erfc.
      EXPECT_NEAR(0.5L * std::erfc(s.z_threshold / std::sqrt(2.0L)), 0.01L / V, 1e-6L * 0.01L / V);
      for (std::size_t i = 0; i < tested.size(); ++i) {
        ASSERT_EQ(std::string(c.token(s.ids[i])), tested[i]) << "statistics are in byte order";
        const auto& per = b.at(tested[i]);
        long double n = 0;
        for (const auto& [l, cnt] : per) n += cnt;
        EXPECT_EQ(s.n[i], std::int64_t(n));
        for (std::size_t y = 0; y < c.labels().size(); ++y) {
          const std::string& l = c.labels()[y];
          const long double cnt = per.count(l) ? per.at(l) : 0;
          const long double z = (cnt / n - p0) / std::sqrt(p0 * (1 - p0) / n);
          const long double pwy = (cnt + k) / T, pw = (n + k * L) / T, py = (S[l] + k * V) / T;
          const long double pmi = std::log(pwy / (pw * py));
          EXPECT_NEAR(s.z_at(i, int(y)), double(z), 1e-12 * std::max(1.0L, std::fabs(z))) << tested[i] << " " << l;
          EXPECT_NEAR(s.pmi_at(i, int(y)), double(pmi), 1e-12 * std::max(1.0L, std::fabs(pmi))) << tested[i] << " " << l;
        }
      }
    }
  }
}

TEST(AuditCounts, ShardsMergedInAnyOrderEqualOneCount) {
  TempDir dir("audit_merge");
  const std::string corpus = write_corpus(dir, kRows);
  const audit::TokenLabelCounts whole = count_file(corpus, "both", 3);
  // Three shards; the last one first so its labels arrive in another order.
  std::vector<std::string> parts;
  for (auto [b, e] : std::vector<std::pair<int, int>>{{7, 10}, {0, 3}, {3, 7}})
    parts.push_back(count_file(corpus, "both", 3, {b, e}).serialize());
  audit::TokenLabelCounts merged(whole.labels());
  for (const auto& p : parts) merged.merge_serialized(p);
  ASSERT_EQ(merged.tokens(), whole.tokens());
  EXPECT_EQ(merged.examples(), whole.examples());
  for (std::uint32_t id = 0; id < whole.tokens(); ++id) {
    const std::int64_t m = merged.find(whole.token(id));
    ASSERT_GE(m, 0);
    for (int y = 0; y < int(whole.labels().size()); ++y) {
      EXPECT_EQ(merged.count(std::uint32_t(m), y), whole.count(id, y)) << whole.token(id);
      EXPECT_EQ(merged.label_examples(y), whole.label_examples(y));
    }
  }
  EXPECT_THROW(merged.merge_serialized(parts[0].substr(0, parts[0].size() / 2)), fathom::Error);
}

TEST(AuditCounts, StringTableSurvivesGrowth) {
  audit::StringTable t;
  for (int i = 0; i < 50000; ++i) EXPECT_EQ(t.intern("w" + std::to_string(i)), std::uint32_t(i));
  for (int i = 0; i < 50000; i += 997) EXPECT_EQ(t.find("w" + std::to_string(i)), i);
  EXPECT_EQ(t.find("absent"), -1);
  EXPECT_EQ(t.intern("w123"), 123u);
}

}  // namespace
