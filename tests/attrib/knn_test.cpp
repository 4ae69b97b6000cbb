// `fathom knn` and `fathom knn --audit` (attrib/knn.h) against independent
// computations: query features from the model contract (one example per
// forward), the cache read back with store::CacheReader, and brute-force
// squared-L2 nearest neighbours in double. Near-ties are allowed to come in
// either order; everything else must match exactly.
#include <gtest/gtest.h>
#include <unistd.h>

#include <set>

#include "attrib/knn_fixture.h"
#include "cli/fathom_process.h"
#include "fathom/attrib/knn.h"
#include "fathom/core/error.h"

namespace fathom::attrib {
namespace {

using namespace fathom::attrib::testing;

constexpr std::int64_t kK = 5;

// Distances agree within this (float features, batched vs single forwards).
double tolerance(double d) { return 2e-6 + 1e-5 * std::abs(d); }

class KnnTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    comm_ = comm::make_communicator("local");
    data_ = build_knn_data(fs::temp_directory_path() / ("fathom-knn-test-" + std::to_string(::getpid())), *comm_);
    tables_ = std::make_unique<CacheTables>(data_.cache);
  }
  static void TearDownTestSuite() {
    tables_.reset();
    comm_.reset();
    if (!std::getenv("FATHOM_KEEP_TEST_DIR")) fs::remove_all(data_.dir);
  }

  // What both modes read, from the fixture's data.
  static void set_sources(KnnSources& o, const std::string& out) {
    o.model_dir = data_.model;
    o.index = data_.index;
    o.cache = data_.cache;
    o.corpus = data_.corpus;
    o.k = kK;
    o.snippet_chars = 0;
    o.out = out;
  }
  static KnnOptions knn_options(const std::string& out) {
    KnnOptions o;
    set_sources(o, out);
    o.cache.clear();      // knn: the cache comes from the index manifest
    o.queries = data_.queries;
    o.batch = 7;          // several batches, the last one short
    o.block_queries = 11; // several search blocks
    return o;
  }
  static AuditOptions audit_options(const std::string& out) {
    AuditOptions o;
    set_sources(o, out);
    o.memory_budget_bytes = 40 * 12 * 4;  // blocks of ~40 rows
    return o;
  }
  std::string path(const std::string& name) const { return (data_.dir / name).string(); }

  static inline std::unique_ptr<comm::Communicator> comm_;
  static inline KnnData data_;
  static inline std::unique_ptr<CacheTables> tables_;
};

// The k returned rows are a valid k-nearest set of the brute force: every
// returned row is within tolerance of the k-th distance, every row clearly
// nearer than the k-th is returned, distances match, order is nearest first.
void expect_valid_neighbours(const nlohmann::json& neighbors, const BruteForce& bf, const CacheTables& t,
                             const std::vector<std::string>& texts, const std::string& what) {
  ASSERT_EQ(std::int64_t(neighbors.size()), kK) << what;
  const double kth = bf.kth(kK);
  std::set<std::int64_t> returned;
  double previous = -1;
  for (const auto& n : neighbors) {
    const std::int64_t row = t.row_of.at(n["id"].get<std::string>());
    returned.insert(row);
    const double d = bf.distance[std::size_t(row)];
    EXPECT_NEAR(n["distance"].get<double>(), d, tolerance(d)) << what << " row " << row;
    EXPECT_LE(d, kth + tolerance(kth)) << what << " row " << row << " is not among the nearest";
    EXPECT_GE(n["distance"].get<double>(), previous) << what << ": not nearest first";
    previous = n["distance"].get<double>();
    const std::int64_t label = t.labels[std::size_t(row)];
    if (label < 0)
      EXPECT_TRUE(n["label"].is_null()) << what;
    else
      EXPECT_EQ(n["label"], t.label_names[std::size_t(label)]) << what;
    EXPECT_EQ(n["text"], texts[std::size_t(row)]) << what;
  }
  EXPECT_EQ(returned.size(), std::size_t(kK)) << what << ": a row returned twice";
  for (std::int64_t j = 0; j < kK; ++j) {
    const std::int64_t row = bf.order[std::size_t(j)];
    if (bf.distance[std::size_t(row)] < kth - tolerance(kth))
      EXPECT_TRUE(returned.count(row)) << what << ": row " << row << " (clearly among the nearest) missing";
  }
  // Where a position is unambiguous (clearly apart from the rows before and
  // after it), it holds the brute force's row.
  auto gap = [&](std::int64_t j) {  // distance from position j to j + 1
    return bf.distance[std::size_t(bf.order[std::size_t(j + 1)])] - bf.distance[std::size_t(bf.order[std::size_t(j)])];
  };
  for (std::int64_t j = 0; j < kK; ++j)
    if ((j == 0 || gap(j - 1) > tolerance(kth)) && gap(j) > tolerance(kth))
      EXPECT_EQ(neighbors[std::size_t(j)]["id"], t.ids[std::size_t(bf.order[std::size_t(j)])]) << what << " #" << j;
}

std::vector<std::string> corpus_texts(const std::string& path) {
  std::vector<std::string> texts;
  for (const auto& j : read_jsonl(path)) texts.push_back(j["text"].get<std::string>());
  return texts;
}

TEST_F(KnnTest, NeighboursPredictionAndConformityMatchBruteForce) {
  const std::string out = path("knn.jsonl");
  const KnnResult r = knn(knn_options(out), *comm_);
  const auto lines = read_jsonl(out);
  const auto queries = data::read_corpus(data_.queries, {});
  ASSERT_EQ(lines.size(), queries.size());
  EXPECT_EQ(r.queries, std::int64_t(queries.size()));
  const auto texts = corpus_texts(data_.corpus);
  model::Bundle bundle = model::load_bundle(data_.model);
  const auto& labels = bundle.info.labels;
  double conformity_sum = 0;
  for (std::size_t q = 0; q < queries.size(); ++q) {
    const std::string what = "query " + queries[q].id;
    const nlohmann::json& line = lines[q];
    EXPECT_EQ(line["id"], queries[q].id) << "output not in input order";
    std::vector<double> logits;
    const std::vector<double> f = forward_features(bundle, queries[q], &logits);
    const std::int64_t pred = std::max_element(logits.begin(), logits.end()) - logits.begin();
    EXPECT_EQ(line["prediction"], labels[std::size_t(pred)]) << what;
    double z = 0;
    for (double l : logits) z += std::exp(l - logits[std::size_t(pred)]);
    for (std::size_t c = 0; c < labels.size(); ++c)
      EXPECT_NEAR(line["probs"][labels[c]].get<double>(), std::exp(logits[c] - logits[std::size_t(pred)]) / z, 2e-6)
          << what;

    const BruteForce bf(*tables_, f.data());
    expect_valid_neighbours(line["neighbors"], bf, *tables_, texts, what);
    // Conformity by hand: the returned neighbours' labels (from the cache)
    // against the independently computed prediction; and, where the k
    // nearest are unambiguous, the brute force's own k.
    std::int64_t agree = 0;
    for (const auto& n : line["neighbors"])
      agree += tables_->labels[std::size_t(tables_->row_of.at(n["id"].get<std::string>()))] == pred ? 1 : 0;
    EXPECT_DOUBLE_EQ(line["conformity"].get<double>(), double(agree) / kK) << what;
    if (bf.clear_cut(kK, tolerance(bf.kth(kK)))) {
      std::int64_t bf_agree = 0;
      for (std::int64_t j = 0; j < kK; ++j) bf_agree += tables_->labels[std::size_t(bf.order[std::size_t(j)])] == pred;
      EXPECT_DOUBLE_EQ(line["conformity"].get<double>(), double(bf_agree) / kK) << what;
    }
    conformity_sum += double(agree) / kK;
  }
  ASSERT_TRUE(r.mean_conformity.has_value());
  EXPECT_NEAR(*r.mean_conformity, conformity_sum / double(queries.size()), 1e-12);
  // The two training records find themselves (same features as the cache).
  for (std::size_t q = queries.size() - 2; q < queries.size(); ++q) {
    const auto& first = lines[q]["neighbors"][0];
    EXPECT_LT(first["distance"].get<double>(), 1e-6) << queries[q].id;
  }
  const auto meta = nlohmann::json::parse(slurp(out + ".meta.json"));
  EXPECT_EQ(meta["mode"], "knn");
  EXPECT_EQ(meta["metric"], "l2");
  EXPECT_EQ(meta["k"], kK);
}

TEST_F(KnnTest, AuditMatchesBruteForceSelfExcludedAndRanked) {
  const std::string out = path("suspects.jsonl");
  const AuditResult r = audit(audit_options(out), *comm_);
  const auto lines = read_jsonl(out);
  const auto texts = corpus_texts(data_.corpus);
  const CacheTables& t = *tables_;
  std::int64_t labelled = 0;
  for (auto l : t.labels) labelled += l >= 0;
  ASSERT_GT(labelled, 0);
  ASSERT_LT(labelled, t.rows);  // the fixture leaves some rows unlabelled
  ASSERT_EQ(std::int64_t(lines.size()), labelled);
  EXPECT_EQ(r.labelled, labelled);
  EXPECT_EQ(r.rows, t.rows);

  std::set<std::int64_t> seen;
  double previous = 2;
  std::int64_t previous_row = -1;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const nlohmann::json& line = lines[i];
    const std::int64_t row = t.row_of.at(line["id"].get<std::string>());
    const std::string what = "row " + std::to_string(row);
    EXPECT_EQ(line["rank"], std::int64_t(i) + 1);
    ASSERT_GE(t.labels[std::size_t(row)], 0) << what << ": unlabelled rows are not ranked";
    const std::int64_t own = t.labels[std::size_t(row)];
    EXPECT_EQ(line["label"], t.label_names[std::size_t(own)]) << what;
    EXPECT_TRUE(seen.insert(row).second) << what << " listed twice";

    std::vector<double> q(t.features.begin() + row * t.width, t.features.begin() + (row + 1) * t.width);
    const BruteForce bf(t, q.data(), /*skip=*/row);
    for (const auto& n : line["neighbors"]) EXPECT_NE(n["id"], t.ids[std::size_t(row)]) << what << ": itself";
    expect_valid_neighbours(line["neighbors"], bf, t, texts, what);
    std::int64_t differ = 0;
    for (const auto& n : line["neighbors"]) differ += t.labels[std::size_t(t.row_of.at(n["id"].get<std::string>()))] != own;
    const double disagreement = line["disagreement"].get<double>();
    EXPECT_DOUBLE_EQ(disagreement, double(differ) / kK) << what;
    if (bf.clear_cut(kK, tolerance(bf.kth(kK)))) {
      std::int64_t bf_differ = 0;
      for (std::int64_t j = 0; j < kK; ++j) bf_differ += t.labels[std::size_t(bf.order[std::size_t(j)])] != own;
      EXPECT_DOUBLE_EQ(disagreement, double(bf_differ) / kK) << what;
    }
    // Largest disagreement first, ties by row.
    EXPECT_TRUE(disagreement < previous || (disagreement == previous && row > previous_row))
        << what << " ranked after row " << previous_row;
    previous = disagreement;
    previous_row = row;
  }
  const auto meta = nlohmann::json::parse(slurp(out + ".meta.json"));
  EXPECT_EQ(meta["mode"], "audit");
  EXPECT_EQ(meta["labelled"], labelled);
}

// Runs `fn`, expecting an error of `kind` whose message contains `needle`.
template <class Fn>
void expect_refused(Fn fn, ErrorKind kind, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "not refused (expected: " << needle << ")";
  } catch (const Error& e) {
    EXPECT_EQ(int(e.kind()), int(kind)) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST_F(KnnTest, BadInputIsRefusedAndNothingIsWritten) {
  const std::string out = path("refused.jsonl");
  const std::string before = "an earlier output\n";
  std::ofstream(out) << before;
  auto knn_with = [&](auto change) {
    KnnOptions o = knn_options(out);
    change(o);
    return [o] { knn(o, *comm_); };
  };
  auto audit_with = [&](auto change) {
    AuditOptions o = audit_options(out);
    change(o);
    return [o] { audit(o, *comm_); };
  };
  const std::string rows = std::to_string(tables_->rows);
  expect_refused(knn_with([](KnnOptions& o) { o.k = 0; }), ErrorKind::Usage, "--k must be >= 1");
  expect_refused(knn_with([](KnnOptions& o) { o.k = -3; }), ErrorKind::Usage, "--k must be >= 1");
  expect_refused(knn_with([&](KnnOptions& o) { o.k = tables_->rows + 1; }), ErrorKind::Usage, "(" + rows + ")");
  expect_refused(audit_with([&](AuditOptions& o) { o.k = tables_->rows; }), ErrorKind::Usage,
                 "(" + std::to_string(tables_->rows - 1) + ")");
  expect_refused(audit_with([](AuditOptions& o) { o.k = 0; }), ErrorKind::Usage, "--k must be >= 1");

  // A corpus whose record 5 has another id.
  const std::string bad_corpus = path("bad-ids.jsonl");
  {
    std::ifstream in(data_.corpus);
    std::ofstream o(bad_corpus);
    std::string line;
    for (int i = 0; std::getline(in, line); ++i) {
      auto j = nlohmann::json::parse(line);
      if (i == 5) j["id"] = "intruder";
      o << j.dump() << "\n";
    }
  }
  const std::string mismatch = "record 5 has id 'intruder', but row 5 of the cache has id '" + tables_->ids[5] + "'";
  expect_refused(knn_with([&](KnnOptions& o) { o.corpus = bad_corpus; }), ErrorKind::Input, mismatch);
  expect_refused(audit_with([&](AuditOptions& o) { o.corpus = bad_corpus; }), ErrorKind::Input, mismatch);
  // A corpus with fewer records than the cache.
  const std::string short_corpus = path("short.jsonl");
  {
    std::ifstream in(data_.corpus);
    std::ofstream o(short_corpus);
    std::string line;
    for (int i = 0; i < 10 && std::getline(in, line); ++i) o << line << "\n";
  }
  expect_refused(knn_with([&](KnnOptions& o) { o.corpus = short_corpus; }), ErrorKind::Input, "10 records");

  // An index of another cache, with this cache (explicit) and via the manifest.
  expect_refused(audit_with([&](AuditOptions& o) { o.index = data_.other_index; }), ErrorKind::Input,
                 data_.other_index);
  expect_refused(knn_with([&](KnnOptions& o) {
                   o.index = data_.other_index;
                   o.cache = data_.cache;
                 }),
                 ErrorKind::Input, data_.other_index);

  EXPECT_EQ(slurp(out), before) << "a refused run changed the output";
  EXPECT_FALSE(fs::exists(out + ".meta.json"));
  for (const auto& e : fs::directory_iterator(data_.dir))
    EXPECT_EQ(e.path().string().find("refused.jsonl.tmp"), std::string::npos) << e.path();
}

// Through the binary: the subcommand exists (no longer reserved), refuses
// with exit 2 and writes nothing, and runs both modes.
TEST_F(KnnTest, CommandLineExitCodesAndOutputs) {
  using fathom::cli::testing::run_fathom;
  const std::string common = " --model " + data_.model + " --index " + data_.index;
  const std::string out = path("cli-knn.jsonl");
  auto r = run_fathom("knn" + common + " --queries " + data_.queries + " --k 0 --out " + out);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_FALSE(fs::exists(out));
  r = run_fathom("knn" + common + " --audit --cache " + data_.cache + " --k " + std::to_string(tables_->rows) +
                 " --out " + out);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_FALSE(fs::exists(out));
  r = run_fathom("knn" + common + " --k 3 --out " + out);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--queries"), std::string::npos) << r.output;

  r = run_fathom("knn" + common + " --queries " + data_.queries + " --k 3 --corpus " + data_.corpus + " --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_jsonl(out).size(), data::read_corpus(data_.queries, {}).size());
  const std::string suspects = path("cli-suspects.jsonl");
  r = run_fathom("knn" + common + " --audit --k 3 --corpus " + data_.corpus + " --out " + suspects);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto lines = read_jsonl(suspects);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0]["rank"], 1);
  EXPECT_EQ(lines[0]["neighbors"].size(), 3u);
}

}  // namespace
}  // namespace fathom::attrib
