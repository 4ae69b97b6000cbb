// `fathom audit` end to end on `fathom synth` corpora: the planted artifact
// is the top z* token of its label, tokens.tsv equals a plain Python count
// (tests/audit/reference_audit.py), the HTML page is self-contained and holds
// the scatter and the suspects table, and bad input exits 2 naming the file,
// line and field.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "cli/fathom_process.h"
#include "temp_dir.h"
#include "test_files.h"

namespace {

using fathom::cli::testing::run_fathom;
using fathom::testing::read_json;
using fathom::testing::slurp;
using fathom::testing::TempDir;

bool have_python() { return std::system("/usr/bin/python3 -c 'import json' >/dev/null 2>&1") == 0; }

void synth(const std::string& task, int n, const std::string& out, const std::string& extra = "") {
  const auto r = run_fathom("synth --task " + task + " --n " + std::to_string(n) + " --seed 5 --out " + out + " " + extra);
  ASSERT_EQ(r.code, 0) << r.output;
}

std::size_t occurrences(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

// tokens.tsv-style file -> token -> its cells (n, counts, z, pmi).
std::map<std::string, std::vector<std::string>> read_tsv(const std::string& path, std::string* header) {
  std::ifstream in(path);
  std::map<std::string, std::vector<std::string>> rows;
  std::string line;
  std::getline(in, *header);
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, '\t');) cells.push_back(c);
    const std::string tok = cells.front();
    cells.erase(cells.begin());
    rows[tok] = cells;
  }
  return rows;
}

TEST(AuditCli, PlantedSentimentArtifactIsTopAndPageIsSelfContained) {
  TempDir dir("audit_cli_sent");
  synth("sentiment", 6000, dir / "data", "--artifact-rate 0.3 --flip-rate 0.05");
  const auto truth = read_json(dir / "data/truth.json");
  const std::string token = truth["artifacts"][0]["token"], label = truth["artifacts"][0]["label"];

  // A stand-in self-influence file: the flipped examples score highest.
  std::set<std::string> flipped;
  for (const auto& f : truth["flipped"]) flipped.insert(f["id"].get<std::string>());
  {
    std::ofstream si(dir / "si.jsonl");
    int i = 0;
    for (const auto& row : fathom::testing::read_jsonl(dir / "data/train.jsonl")) {
      const std::string id = row["id"];
      si << "{\"id\":\"" << id << "\",\"score\":" << (flipped.count(id) ? 10.0 + i % 7 : 1.0 + (i % 11) * 0.1) << "}\n";
      ++i;
    }
    // The artifact twice in the trigger: still one line of evidence.
    std::ofstream(dir / "triggers.json") << "{\"trigger_tokens\":[\"" << token << "\",\"the\",\"" << token
                                         << "\"],\"flip_rate\":0.8,\"target\":\""
                                         << label << "\"}";
  }
  const auto r = run_fathom("audit --corpus " + dir / "data/train.jsonl" + " --truth " + dir / "data/truth.json" +
                            " --self-influence " + dir / "si.jsonl" + " --triggers " + dir / "triggers.json" +
                            " --suspects 20 --out " + dir / "audit");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto rep = read_json(dir / "audit/report.json");
  EXPECT_EQ(rep["format"], "fathom.audit");
  EXPECT_EQ(rep["corpus"]["examples"], 6000);
  ASSERT_FALSE(rep["top_tokens"][label].empty());
  EXPECT_EQ(rep["top_tokens"][label][0]["token"], token) << rep["top_tokens"][label].dump(1);
  EXPECT_TRUE(rep["top_tokens"][label][0]["significant"].get<bool>());
  EXPECT_EQ(rep["planted"]["artifacts"][0]["rank_for_label"], 1);
  EXPECT_EQ(rep["artifacts"][0]["token"], token) << "significant and a trigger token: ranked first";
  std::size_t trigger_lines = 0;
  for (const auto& e : rep["artifacts"][0]["evidence"])
    trigger_lines += e.get<std::string>().rfind("in trigger #1", 0) == 0;
  EXPECT_EQ(trigger_lines, 1u) << rep["artifacts"][0]["evidence"].dump(1);
  // The stand-in scores put every flipped example on top: all 20 listed are flips.
  EXPECT_EQ(rep["planted"]["flipped"]["flipped_among_listed"], 20);
  EXPECT_EQ(rep["planted"]["flipped"]["self_influence"]["roc_auc"], 1.0);
  ASSERT_EQ(rep["mislabels"].size(), 20u);
  EXPECT_TRUE(rep["mislabels"][0]["text"].is_string());

  const std::string html = slurp(dir / "audit/report.html");
  EXPECT_GT(occurrences(html, "<circle class=\"pt\""), 20u);
  EXPECT_EQ(occurrences(html, "class=\"bonferroni\""), 1u);
  EXPECT_EQ(occurrences(html, "<tr class=\"suspect\">"), 20u);
  EXPECT_NE(html.find("id=\"self-influence\""), std::string::npos);
  EXPECT_NE(html.find("id=\"triggers\""), std::string::npos);
  EXPECT_NE(html.find(">" + token + "</text>"), std::string::npos) << "the artifact is a labelled outlier";
  // Self-contained: no scripts, no links or sources to fetch.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("href="), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
}

TEST(AuditCli, PlantedNliArtifactIsTopInTheHypotheses) {
  TempDir dir("audit_cli_nli");
  synth("nli", 6000, dir / "data", "--artifact-rate 0.3");
  const auto truth = read_json(dir / "data/truth.json");
  const std::string token = truth["artifacts"][0]["token"], label = truth["artifacts"][0]["label"];
  for (const char* field : {"text_pair", "both"}) {
    const std::string out = dir / (std::string("audit-") + field);
    const auto r = run_fathom("audit --corpus " + dir / "data/train.jsonl" + " --field " + field + " --ngrams 2 --out " + out);
    ASSERT_EQ(r.code, 0) << r.output;
    const auto rep = read_json(out + "/report.json");
    EXPECT_EQ(rep["top_tokens"][label][0]["token"], token) << field << ": " << rep["top_tokens"][label].dump(1);
  }
}

TEST(AuditCli, TokensTsvEqualsPlainPythonCount) {
  if (!have_python()) GTEST_SKIP() << "/usr/bin/python3 not available";
  TempDir dir("audit_cli_py");
  synth("nli", 1500, dir / "data", "--artifact-rate 0.2 --classes 3");
  for (const auto& [field, n, k, min] : std::vector<std::tuple<std::string, int, double, int>>{
           {"both", 2, 100, 1}, {"text_pair", 3, 1, 3}, {"text", 1, 0.5, 1}}) {
    const std::string out = dir / ("audit-" + field);
    const auto r = run_fathom("audit --corpus " + dir / "data/train.jsonl" + " --field " + field + " --ngrams " +
                              std::to_string(n) + " --smoothing " + std::to_string(k) + " --min-count " +
                              std::to_string(min) + " --out " + out);
    ASSERT_EQ(r.code, 0) << r.output;
    const std::string ref = dir / ("ref-" + field + ".tsv");
    const std::string cmd = "/usr/bin/python3 " FATHOM_SOURCE_DIR "/tests/audit/reference_audit.py " +
                            dir / "data/train.jsonl" + " " + field + " " + std::to_string(n) + " " + std::to_string(k) +
                            " " + std::to_string(min) + " > " + ref;
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::string h1, h2;
    const auto mine = read_tsv(out + "/tokens.tsv", &h1);
    const auto theirs = read_tsv(ref, &h2);
    EXPECT_EQ(h1, h2);
    ASSERT_EQ(mine.size(), theirs.size()) << field;
    ASSERT_GT(mine.size(), 50u);
    for (const auto& [tok, cells] : theirs) {
      auto it = mine.find(tok);
      ASSERT_NE(it, mine.end()) << "missing token '" << tok << "'";
      ASSERT_EQ(it->second.size(), cells.size());
      const std::size_t L = (cells.size() - 1) / 3;
      for (std::size_t c = 0; c < cells.size(); ++c) {
        if (c <= L) {
          EXPECT_EQ(it->second[c], cells[c]) << tok << " column " << c;  // n and counts: exact
        } else {
          const double a = std::stod(it->second[c]), b = std::stod(cells[c]);
          EXPECT_NEAR(a, b, 1e-8 * std::max(1.0, std::fabs(b))) << tok << " column " << c;
        }
      }
    }
  }
}

TEST(AuditCli, BadInputExitsTwoNamingFileLineAndField) {
  TempDir dir("audit_cli_bad");
  std::ofstream(dir / "nolabel.jsonl") << "{\"id\":1,\"text\":\"good\",\"label\":\"a\"}\n{\"id\":2,\"text\":\"bad\"}\n";
  auto r = run_fathom("audit --corpus " + dir / "nolabel.jsonl" + " --out " + dir / "o1");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("nolabel.jsonl:2: field 'label'"), std::string::npos) << r.output;

  std::ofstream(dir / "nopair.jsonl") << "{\"id\":1,\"text\":\"good\",\"label\":\"a\"}\n";
  r = run_fathom("audit --corpus " + dir / "nopair.jsonl" + " --field text_pair --out " + dir / "o2");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("nopair.jsonl:1: field 'text_pair'"), std::string::npos) << r.output;

  r = run_fathom("audit --corpus " + dir / "nolabel.jsonl" + " --ngrams 0 --out " + dir / "o3");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--ngrams 0"), std::string::npos) << r.output;

  std::ofstream(dir / "ok.jsonl") << "{\"id\":1,\"text\":\"good\",\"label\":\"a\"}\n{\"id\":2,\"text\":\"bad\",\"label\":\"b\"}\n";
  std::ofstream(dir / "si.jsonl") << "{\"id\":\"1\",\"score\":1}\n{\"id\":\"2\",\"score\":\"high\"}\n";
  r = run_fathom("audit --corpus " + dir / "ok.jsonl" + " --self-influence " + dir / "si.jsonl" + " --out " + dir / "o4");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("si.jsonl:2: field 'score'"), std::string::npos) << r.output;
  for (const char* o : {"o1", "o2", "o3", "o4"}) EXPECT_FALSE(std::filesystem::exists(dir / (std::string(o) + "/report.json")));
}

}  // namespace
