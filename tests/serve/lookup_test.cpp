// `fathom serve --index/--cache/--corpus`: /v1/knn and /v1/influence answer
// what the batch commands (`fathom knn`, `fathom influence --solver exact`)
// write for the same texts — two independent paths over the same files, all
// built here with the CLI (synth, train, cache, index). Also: bad requests
// name the field, a server without them says what is missing (404), and
// start-up refuses a cache of another model, an index of another cache, a
// corpus alone and an iterative solver (exit 2, naming the file or option).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "serve/serve_process.h"
#include "temp_dir.h"

namespace {

using fathom::serve_testing::http;
using fathom::serve_testing::body_of;
using fathom::serve_testing::expect_error;
using fathom::serve_testing::HttpResponse;
using fathom::serve_testing::ServerProcess;
using fathom::serve_testing::SharedServerSuite;
using nlohmann::json;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<json> read_lines(const std::string& path) {
  std::vector<json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

// Runs `fathom --log-level warn ARGS` in `dir`; returns the exit code, stderr in `err`.
int fathom(const std::string& dir, const std::string& args, std::string* err = nullptr) {
  const std::string log = dir + "/last.err";
  const std::string cmd =
      "cd '" + dir + "' && timeout 120 '" FATHOM_BINARY "' --log-level warn " + args + " > /dev/null 2> '" + log + "'";
  const int status = std::system(cmd.c_str());
  if (err) *err = slurp(log);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

struct Data {
  std::unique_ptr<fathom::testing::TempDir> dir;
  std::string d;
  std::vector<std::string> texts;  // the query texts, in file order
  std::vector<json> knn, influence;  // the CLI's lines for them
};

Data& data() {
  static Data x = [] {
    Data s;
    s.dir = std::make_unique<fathom::testing::TempDir>("serve_lookup");
    s.d = s.dir->str();
    auto must = [&](const std::string& args) {
      std::string err;
      if (fathom(s.d, args, &err) != 0) throw std::runtime_error("fathom " + args + " failed:\n" + err);
    };
    must("synth --task sentiment --n 300 --seed 1 --out data");
    must("train --corpus data/train.jsonl --dev data/dev.jsonl --arch boe --tokenizer word --epochs 2 --batch 32 "
         "--lr 0.01 --seed 1 --out model");
    must("cache --model model --corpus data/train.jsonl --out cache.h5");
    must("index --cache cache.h5 --field features --spec Flat --out features.faiss");
    // Another model (another seed), its cache and that cache's index: the mismatches.
    must("train --corpus data/train.jsonl --arch boe --tokenizer word --epochs 1 --batch 32 --lr 0.01 --seed 2 "
         "--out model2");
    must("cache --model model2 --corpus data/train.jsonl --out cache2.h5");
    must("index --cache cache2.h5 --field features --spec Flat --out features2.faiss");
    // Four test records as the queries; each is computed alone (batch 1) as the server does.
    std::ifstream in(s.d + "/data/test.jsonl");
    std::ofstream q(s.d + "/queries.jsonl");
    std::string line;
    for (int i = 0; i < 4 && std::getline(in, line); ++i) {
      q << line << '\n';
      s.texts.push_back(json::parse(line)["text"]);
    }
    q.close();
    must("knn --model model --index features.faiss --corpus data/train.jsonl --queries queries.jsonl --k 5 "
         "--batch 1 --out knn.jsonl");
    must("influence --model model --cache cache.h5 --corpus data/train.jsonl --queries queries.jsonl --solver exact "
         "--top 5 --query-batch 1 --out influence.jsonl");
    s.knn = read_lines(s.d + "/knn.jsonl");
    s.influence = read_lines(s.d + "/influence.jsonl");
    return s;
  }();
  return x;
}

void expect_close(double a, double b, const std::string& what) {
  EXPECT_LE(std::abs(a - b), 1e-6 + 1e-5 * std::abs(b)) << what << ": server " << a << ", cli " << b;
}

class LookupServe : public SharedServerSuite<LookupServe> {
 protected:
  static void SetUpTestSuite() {
    Data& d = data();
    server_ = new ServerProcess(FATHOM_BINARY, {"--model", d.d + "/model", "--index", d.d + "/features.faiss", "--cache",
                                                d.d + "/cache.h5", "--corpus", d.d + "/data/train.jsonl",
                                                "--workers", "2"});
  }
};

TEST_F(LookupServe, ModelAndPageAdvertiseTheLookups) {
  json m = body_of(http(port(), "GET", "/v1/model"));
  EXPECT_EQ(m["knn"], true);
  EXPECT_EQ(m["influence"], true);
  EXPECT_EQ(m["knn_rows"], 300);
  EXPECT_EQ(m["influence_solver"], "exact");
  EXPECT_NE(std::find(m["endpoints"].begin(), m["endpoints"].end(), "/v1/influence"), m["endpoints"].end());
  const std::string page = http(port(), "GET", "/").body;
  for (const char* s : {"id=\"knn\"", "id=\"influence\"", "/v1/knn", "/v1/influence", "proponents", "opponents"})
    EXPECT_NE(page.find(s), std::string::npos) << s;
}

TEST_F(LookupServe, KnnEqualsTheCli) {
  const Data& d = data();
  ASSERT_EQ(d.knn.size(), d.texts.size());
  for (std::size_t i = 0; i < d.texts.size(); ++i) {
    HttpResponse r = http(port(), "POST", "/v1/knn", json{{"text", d.texts[i]}, {"k", 5}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    const json s = body_of(r), &c = d.knn[i];
    EXPECT_EQ(s["prediction"], c["prediction"]) << i;
    EXPECT_EQ(s["conformity"], c["conformity"]) << i;
    for (auto& [label, p] : c["probs"].items()) expect_close(s["probs"][label], p, "probs");
    ASSERT_EQ(s["neighbors"].size(), 5u) << r.body;
    ASSERT_EQ(s["neighbors"].size(), c["neighbors"].size());
    for (std::size_t j = 0; j < 5; ++j) {
      const json &a = s["neighbors"][j], &b = c["neighbors"][j];
      EXPECT_EQ(a["id"], b["id"]) << i << "/" << j;
      EXPECT_EQ(a["label"], b["label"]);
      EXPECT_EQ(a["text"], b["text"]);
      ASSERT_TRUE(a["text"].is_string()) << "texts come with --corpus";
      expect_close(a["distance"], b["distance"], "distance");
    }
  }
  // Fewer neighbours when asked.
  HttpResponse r = http(port(), "POST", "/v1/knn", json{{"text", d.texts[0]}, {"k", 2}}.dump());
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(body_of(r)["neighbors"].size(), 2u);
}

TEST_F(LookupServe, InfluenceEqualsTheCliExactSolver) {
  const Data& d = data();
  ASSERT_EQ(d.influence.size(), d.texts.size());
  for (std::size_t i = 0; i < d.texts.size(); ++i) {
    HttpResponse r = http(port(), "POST", "/v1/influence", json{{"text", d.texts[i]}, {"top", 5}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    const json s = body_of(r), &c = d.influence[i];
    EXPECT_EQ(s["prediction"], c["prediction"]) << i;
    EXPECT_EQ(s["target"], c["target"]) << i;
    expect_close(s["loss"], c["loss"], "loss");
    for (const char* side : {"proponents", "opponents"}) {
      ASSERT_EQ(s[side].size(), 5u) << side;
      ASSERT_EQ(c[side].size(), 5u) << side;
      for (std::size_t j = 0; j < 5; ++j) {
        const json &a = s[side][j], &b = c[side][j];
        EXPECT_EQ(a["id"], b["id"]) << side << " " << i << "/" << j;
        EXPECT_EQ(a["label"], b["label"]);
        EXPECT_EQ(a["text"], b["text"]);
        expect_close(a["score"], b["score"], side);
      }
    }
    EXPECT_GT(s["proponents"][0]["score"].get<double>(), 0.0);
    EXPECT_LT(s["opponents"][0]["score"].get<double>(), 0.0);
  }
  // A named target: the loss at that label.
  HttpResponse t = http(port(), "POST", "/v1/influence", json{{"text", d.texts[0]}, {"target", "positive"}}.dump());
  ASSERT_EQ(t.status, 200) << t.body;
  EXPECT_EQ(body_of(t)["target"], "positive");
  EXPECT_EQ(body_of(t)["proponents"].size(), 10u) << "default top";
}

TEST_F(LookupServe, BadRequestsNameTheField) {
  const int P = port();
  expect_error(http(P, "POST", "/v1/knn", "{}"), 422, "text", "missing text");
  expect_error(http(P, "POST", "/v1/knn", R"({"text": "good", "k": 0})"), 422, "k", "k = 0");
  expect_error(http(P, "POST", "/v1/knn", R"({"text": "good", "k": 101})"), 422, "k", "k over the limit");
  expect_error(http(P, "POST", "/v1/knn", R"({"text": "good", "k": "3"})"), 422, "k", "k a string");
  expect_error(http(P, "POST", "/v1/knn", R"({"text": "good", "top": 3})"), 422, "top", "unknown field");
  expect_error(http(P, "POST", "/v1/knn", R"({"text": "good", )"), 400, "body", "truncated");
  expect_error(http(P, "GET", "/v1/knn"), 405, "", "GET on knn");
  expect_error(http(P, "POST", "/v1/influence", R"({"text": 3})"), 422, "text", "text a number");
  expect_error(http(P, "POST", "/v1/influence", R"({"text": "good", "top": -1})"), 422, "top", "negative top");
  expect_error(http(P, "POST", "/v1/influence", R"({"text": "good", "top": 2.5})"), 422, "top", "float top");
  expect_error(http(P, "POST", "/v1/influence", R"({"text": "good", "target": "maybe"})"), 422, "target", "label");
  expect_error(http(P, "POST", "/v1/influence", R"({"text": "good", "k": 3})"), 422, "k", "unknown field");
  EXPECT_EQ(http(P, "GET", "/healthz").status, 200);
}

TEST(LookupServeWithout, SaysWhatIsMissing) {
  const Data& d = data();
  ServerProcess server(FATHOM_BINARY, {"--model", d.d + "/model"});
  HttpResponse k = http(server.port(), "POST", "/v1/knn", R"({"text": "good"})");
  expect_error(k, 404, "", "knn without index");
  EXPECT_NE(k.body.find("--index"), std::string::npos) << k.body;
  HttpResponse i = http(server.port(), "POST", "/v1/influence", R"({"text": "good"})");
  expect_error(i, 404, "", "influence without cache");
  EXPECT_NE(i.body.find("--cache"), std::string::npos) << i.body;
  json m = body_of(http(server.port(), "GET", "/v1/model"));
  EXPECT_EQ(m["knn"], false);
  EXPECT_EQ(m["influence"], false);
}

TEST(LookupServeWithout, StartUpRefusesMismatches) {
  const Data& d = data();
  std::string err;
  // A cache of another model.
  EXPECT_EQ(fathom(d.d, "serve --port 0 --model model2 --cache cache.h5", &err), 2) << err;
  EXPECT_NE(err.find("cache.h5"), std::string::npos) << err;
  // An index of another cache.
  EXPECT_EQ(fathom(d.d, "serve --port 0 --model model --cache cache.h5 --index features2.faiss", &err), 2) << err;
  EXPECT_NE(err.find("features2.faiss"), std::string::npos) << err;
  // The index's cache of another model.
  EXPECT_EQ(fathom(d.d, "serve --port 0 --model model --index features2.faiss", &err), 2) << err;
  EXPECT_NE(err.find("cache2.h5"), std::string::npos) << err;
  // A corpus alone, an iterative solver.
  EXPECT_EQ(fathom(d.d, "serve --port 0 --model model --corpus data/train.jsonl", &err), 2) << err;
  EXPECT_NE(err.find("--corpus"), std::string::npos) << err;
  EXPECT_EQ(fathom(d.d, "serve --port 0 --model model --cache cache.h5 --solver lissa", &err), 2) << err;
  EXPECT_NE(err.find("lissa"), std::string::npos) << err;
  // A corpus that is not the cache's.
  EXPECT_EQ(fathom(d.d, "serve --port 0 --model model --cache cache.h5 --corpus data/dev.jsonl", &err), 2) << err;
  EXPECT_NE(err.find("dev.jsonl"), std::string::npos) << err;
}

}  // namespace
