// `fathom serve` as a process on a free port, over raw sockets: every
// endpoint with good and bad requests, a fuzz of malformed requests (never a
// 5xx, never a crash), the full queue (503 + Retry-After), SIGTERM draining
// (in-flight request answered, exit 0), and concurrent load with latency and
// RSS figures.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <future>
#include <random>

#include "saliency/saliency_fixture.h"
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

struct Shared {
  std::unique_ptr<fathom::testing::TempDir> dir;
  fathom::saliency_testing::SaliencyData data;
};

Shared& shared() {
  static Shared s = [] {
    Shared x;
    x.dir = std::make_unique<fathom::testing::TempDir>("serve_test");
    auto comm = fathom::comm::make_communicator("local");
    x.data = fathom::saliency_testing::build_saliency_data(x.dir->path() / "data", *comm, false);
    return x;
  }();
  return s;
}

std::unique_ptr<ServerProcess> start(const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {"--model", shared().data.boe};
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<ServerProcess>(FATHOM_BINARY, args);
}

class ServeTest : public SharedServerSuite<ServeTest> {
 protected:
  static void SetUpTestSuite() { server_ = start({"--workers", "2", "--queue", "8"}).release(); }
};

TEST_F(ServeTest, HealthModelAndPage) {
  HttpResponse h = http(port(), "GET", "/healthz");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(body_of(h)["status"], "ok");
  HttpResponse m = http(port(), "GET", "/v1/model");
  ASSERT_EQ(m.status, 200);
  json mj = body_of(m);
  EXPECT_EQ(mj["labels"], json({"neg", "pos"}));
  EXPECT_EQ(mj["architecture"], "boe");
  EXPECT_EQ(mj["methods"].size(), 5u);
  HttpResponse page = http(port(), "GET", "/");
  ASSERT_EQ(page.status, 200);
  EXPECT_NE(page.headers["content-type"].find("text/html"), std::string::npos);
  EXPECT_NE(page.body.find("<script>"), std::string::npos);
  // No external assets: nothing is loaded from another origin.
  for (const char* bad : {"src=\"http", "href=\"http", "src='http", "@import", "url(http"})
    EXPECT_EQ(page.body.find(bad), std::string::npos) << bad;
}

TEST_F(ServeTest, PredictAndSaliency) {
  HttpResponse p = http(port(), "POST", "/v1/predict", R"({"text": "the film was great"})");
  ASSERT_EQ(p.status, 200) << p.body;
  json pj = body_of(p);
  EXPECT_EQ(pj["prediction"], "pos");
  EXPECT_NEAR(pj["probs"]["pos"].get<double>() + pj["probs"]["neg"].get<double>(), 1.0, 1e-5);
  ASSERT_EQ(pj["tokens"].size(), 6u);  // [CLS] the film was great [SEP]
  EXPECT_EQ(pj["tokens"][4]["text"], "great");
  EXPECT_EQ(pj["tokens"][4]["begin"], 13);

  HttpResponse s = http(port(), "POST", "/v1/saliency",
                        R"({"text": "the film was great", "methods": ["vanilla", "grad-input", "ig", "smoothgrad", "loo"],
                            "steps": 50, "samples": 4, "seed": 7})");
  ASSERT_EQ(s.status, 200) << s.body;
  json sj = body_of(s);
  EXPECT_EQ(sj["prediction"], "pos");
  EXPECT_EQ(sj["target"], "pos");
  for (const char* m : {"vanilla", "grad-input", "ig", "smoothgrad", "loo"}) {
    ASSERT_TRUE(sj["results"].contains(m)) << m;
    EXPECT_EQ(sj["results"][m]["tokens"].size(), 6u) << m;
  }
  const json& ig = sj["results"]["ig"];
  const double delta = ig["objective"].get<double>() - ig["baseline_objective"].get<double>();
  EXPECT_LE(std::abs(ig["completeness_gap"].get<double>()), 1e-3 * std::max(1.0, std::abs(delta)));
  // The sentiment word matters most for leave-one-out.
  const json& loo = sj["results"]["loo"]["tokens"];
  int best = 1;
  for (int t = 1; t <= 4; ++t)
    if (loo[t]["score"].get<double>() > loo[best]["score"].get<double>()) best = t;
  EXPECT_EQ(loo[best]["text"], "great");
  // Same seed, same SmoothGrad.
  HttpResponse again = http(port(), "POST", "/v1/saliency",
                            R"({"text": "the film was great", "method": "smoothgrad", "samples": 4, "seed": 7})");
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(body_of(again)["results"]["smoothgrad"]["tokens"], sj["results"]["smoothgrad"]["tokens"]);
  // A named target and the loss objective.
  HttpResponse t = http(port(), "POST", "/v1/saliency", R"({"text": "the film was great", "target": "neg", "of": "loss"})");
  ASSERT_EQ(t.status, 200) << t.body;
  EXPECT_EQ(body_of(t)["target"], "neg");
  EXPECT_EQ(body_of(t)["results"]["vanilla"]["settings"]["of"], "loss");
}

TEST_F(ServeTest, Attacks) {
  HttpResponse h = http(port(), "POST", "/v1/attack/hotflip", R"({"text": "the film was great", "max_flips": 3})");
  ASSERT_EQ(h.status, 200) << h.body;
  json hj = body_of(h);
  EXPECT_EQ(hj["label_before"], "pos");
  EXPECT_LE(hj["flips"].size(), 3u);
  if (hj["success"].get<bool>()) {
    // The adversarial text, predicted again, gives the label reported.
    HttpResponse p = http(port(), "POST", "/v1/predict", json{{"text", hj["adversarial_text"]}}.dump());
    EXPECT_EQ(body_of(p)["prediction"], hj["label_after"]);
  }
  HttpResponse r = http(port(), "POST", "/v1/attack/reduce", R"({"text": "the film was great", "beam": 2})");
  ASSERT_EQ(r.status, 200) << r.body;
  json rj = body_of(r);
  EXPECT_EQ(rj["label"], "pos");
  HttpResponse p = http(port(), "POST", "/v1/predict", json{{"text", rj["reduced_text"]}}.dump());
  EXPECT_EQ(body_of(p)["prediction"], "pos") << "the reduced input keeps the prediction";
}

TEST_F(ServeTest, BadRequestsNameTheField) {
  const int P = port();
  expect_error(http(P, "POST", "/v1/predict", R"({"text": )"), 400, "body", "truncated JSON");
  expect_error(http(P, "POST", "/v1/predict", "[1,2]"), 422, "body", "not an object");
  expect_error(http(P, "POST", "/v1/predict", "{}"), 422, "text", "missing text");
  expect_error(http(P, "POST", "/v1/predict", R"({"text": 5})"), 422, "text", "wrong type");
  expect_error(http(P, "POST", "/v1/predict", R"({"text": ""})"), 422, "text", "empty text");
  expect_error(http(P, "POST", "/v1/predict", R"({"text": "a", "text_pair": []})"), 422, "text_pair", "pair type");
  expect_error(http(P, "POST", "/v1/predict", R"({"text": "a", "txet": "b"})"), 422, "txet", "unknown field");
  expect_error(http(P, "POST", "/v1/saliency", R"({"text": "a", "method": "lime"})"), 422, "method", "unknown method");
  expect_error(http(P, "POST", "/v1/saliency", R"({"text": "a", "methods": ["ig", 3]})"), 422, "methods[1]", "method type");
  expect_error(http(P, "POST", "/v1/saliency", R"({"text": "a", "methods": []})"), 422, "methods", "no methods");
  expect_error(http(P, "POST", "/v1/saliency", R"({"text": "a", "target": "maybe"})"), 422, "target", "unknown label");
  expect_error(http(P, "POST", "/v1/saliency", R"({"text": "a", "of": "prob"})"), 422, "of", "unknown objective");
  expect_error(http(P, "POST", "/v1/saliency", R"({"text": "a", "steps": 100000})"), 422, "steps", "over the limit");
  expect_error(http(P, "POST", "/v1/saliency", R"({"text": "a", "steps": 0})"), 422, "steps", "zero steps");
  expect_error(http(P, "POST", "/v1/saliency", R"({"text": "a", "steps": 2.5})"), 422, "steps", "float steps");
  expect_error(http(P, "POST", "/v1/saliency", R"({"text": "a", "steps": 1e400})"), 400, "body", "number overflow");
  expect_error(http(P, "POST", "/v1/saliency", R"({"text": "a", "steps": 99999999999999999999999})"), 422, "steps",
               "huge integer");
  expect_error(http(P, "POST", "/v1/saliency", R"({"text": "a", "samples": 51})"), 422, "samples", "samples limit");
  expect_error(http(P, "POST", "/v1/saliency", R"({"text": "a", "noise": -1})"), 422, "noise", "negative noise");
  expect_error(http(P, "POST", "/v1/saliency", R"({"text": "a", "rule": "simpson"})"), 422, "rule", "unknown rule");
  expect_error(http(P, "POST", "/v1/saliency", R"({"text": "a", "seed": -3})"), 422, "seed", "negative seed");
  expect_error(http(P, "POST", "/v1/attack/hotflip", R"({"text": "a", "target": "x"})"), 422, "target", "hotflip label");
  expect_error(http(P, "POST", "/v1/attack/hotflip", R"({"text": "a", "max_flips": 0})"), 422, "max_flips", "flips");
  expect_error(http(P, "POST", "/v1/attack/reduce", R"({"text": "a", "beam": 99})"), 422, "beam", "beam limit");
  std::string many = "a";
  for (int i = 0; i < 300; ++i) many += " good";
  expect_error(http(P, "POST", "/v1/predict", json{{"text", many}}.dump()), 422, "text", "too many tokens");
  expect_error(http(P, "POST", "/v1/predict", json{{"text", std::string(20000, 'a')}}.dump()), 422, "text",
               "text over max bytes");
  expect_error(http(P, "POST", "/v1/predict", "{\"text\": \"\xff\xfe\"}"), 400, "body", "invalid UTF-8");
  expect_error(http(P, "POST", "/v1/predict", std::string(70000, ' ')), 413, "body", "oversized body");
  expect_error(http(P, "GET", "/v1/predict"), 405, "", "GET on a POST endpoint");
  expect_error(http(P, "POST", "/v1/model", "{}"), 405, "", "POST on a GET endpoint");
  expect_error(http(P, "GET", "/v1/nothing"), 404, "", "unknown path");
  expect_error(http(P, "GET", "/v1/knn"), 404, "", "no index loaded");
  EXPECT_EQ(http(P, "GET", "/healthz").status, 200) << "still serving";
}

// Deterministic malformed requests: truncations, byte flips, wrong types,
// huge numbers, invalid UTF-8, deep nesting, oversized bodies, garbage
// request lines. None may give a 5xx or kill the server.
TEST_F(ServeTest, FuzzNeverFiveHundred) {
  const int P = port();
  const std::vector<std::pair<std::string, std::string>> seeds = {
      {"/v1/predict", R"({"text": "the film was great", "text_pair": "it was"})"},
      {"/v1/saliency", R"({"text": "the film was bad", "methods": ["vanilla", "ig"], "steps": 8, "samples": 2})"},
      {"/v1/attack/hotflip", R"({"text": "a great film", "max_flips": 2})"},
      {"/v1/attack/reduce", R"({"text": "a great film", "beam": 1})"},
  };
  std::mt19937_64 rng(12345);
  std::vector<std::pair<std::string, std::string>> cases;
  for (const auto& [path, body] : seeds) {
    for (std::size_t cut = 0; cut < body.size(); cut += 2) cases.emplace_back(path, body.substr(0, cut));
    for (int k = 0; k < 80; ++k) {
      std::string b = body;
      b[rng() % b.size()] = char(rng() % 256);
      cases.emplace_back(path, b);
    }
  }
  const std::vector<std::string> values = {"null", "true", "-1", "0", "1e308", "-1e308", "18446744073709551616",
                                           "\"\"", "[]", "{}", "\"\\ud800\"", "3.5", "\"x\"", "[\"ig\"]"};
  for (const char* field : {"text", "text_pair", "method", "methods", "target", "of", "steps", "rule", "samples",
                            "noise", "seed", "max_flips", "beam", "min_tokens"})
    for (const std::string& v : values)
      for (const char* path : {"/v1/saliency", "/v1/attack/hotflip", "/v1/attack/reduce"})
        cases.emplace_back(path, std::string("{\"text\": \"good film\", \"") + field + "\": " + v + "}");
  cases.emplace_back("/v1/predict", std::string(5000, '[') + std::string(5000, ']'));
  cases.emplace_back("/v1/predict", "{\"text\": \"\xc3\x28\"}");
  cases.emplace_back("/v1/predict", "{\"text\": \"\xed\xa0\x80\"}");
  cases.emplace_back("/v1/predict", std::string(200000, 'x'));
  std::vector<std::string> raw = {"GARBAGE\r\n\r\n", "GET / HTTP/9.9\r\n\r\n",
                                  "POST /v1/predict HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                                  "POST /v1/predict HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n{}",
                                  "POST /v1/predict HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"};
  int n = 0, fives = 0;
  for (const auto& [path, body] : cases) {
    HttpResponse r = http(P, "POST", path, body);
    ++n;
    if (r.status >= 500 || r.status == 0) {
      ++fives;
      ADD_FAILURE() << path << " " << body.substr(0, 120) << " -> " << r.status << " " << r.body.substr(0, 200);
    }
    if (fives > 5) break;
  }
  for (const std::string& req : raw) {
    HttpResponse r = http(P, "", "", "", req, 15);
    EXPECT_LT(r.status, 500) << req;
    ++n;
  }
  EXPECT_GE(n, 1000);
  std::printf("[serve fuzz] %d malformed requests, none answered 5xx\n", n);
  EXPECT_EQ(http(P, "GET", "/healthz").status, 200) << "the server survived " << n << " malformed requests";
  EXPECT_TRUE(server_->alive());
}

// A request that keeps one worker busy for a while: IG with many steps.
std::string slow_body(int steps) {
  std::string text = "the film";
  for (int i = 0; i < 60; ++i) text += " great";
  return json{{"text", text}, {"method", "ig"}, {"rule", "riemann-left"}, {"steps", steps}}.dump();
}

TEST(ServeQueue, FullQueueGets503WithRetryAfter) {
  auto s = start({"--workers", "1", "--queue", "0", "--max-steps", "10000000"});
  // Calibrate: the slow request takes >= 0.4 s on this machine.
  int steps = 20000;
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(http(s->port(), "POST", "/v1/saliency", slow_body(steps)).status, 200);
    if (std::chrono::steady_clock::now() - t0 > std::chrono::milliseconds(400) || steps > 2000000) break;
    steps *= 4;
  }
  auto slow = std::async(std::launch::async, [&] { return http(s->port(), "POST", "/v1/saliency", slow_body(steps)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  HttpResponse busy = http(s->port(), "POST", "/v1/predict", R"({"text": "good"})");
  expect_error(busy, 503, "", "queue full");
  EXPECT_EQ(busy.headers["retry-after"], "1");
  EXPECT_EQ(http(s->port(), "GET", "/healthz").status, 200) << "health does not queue";
  EXPECT_EQ(slow.get().status, 200);
  EXPECT_EQ(http(s->port(), "POST", "/v1/predict", R"({"text": "good"})").status, 200) << "free again";
}

TEST(ServeQueue, TimeoutGets503) {
  auto s = start({"--workers", "1", "--queue", "0", "--max-steps", "10000000", "--timeout", "0.2"});
  HttpResponse r = http(s->port(), "POST", "/v1/saliency", slow_body(2000000));
  expect_error(r, 503, "", "ran past the time limit");
  EXPECT_EQ(r.headers["retry-after"], "1");
}

TEST(ServeShutdown, SigtermDrainsAndExitsZero) {
  auto s = start({"--workers", "1", "--max-steps", "10000000"});
  int steps = 20000;
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(http(s->port(), "POST", "/v1/saliency", slow_body(steps)).status, 200);
    if (std::chrono::steady_clock::now() - t0 > std::chrono::milliseconds(500) || steps > 2000000) break;
    steps *= 4;
  }
  auto slow = std::async(std::launch::async, [&] { return http(s->port(), "POST", "/v1/saliency", slow_body(steps)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  s->signal(SIGTERM);
  HttpResponse in_flight = slow.get();
  EXPECT_EQ(in_flight.status, 200) << "the request in flight is answered";
  EXPECT_EQ(s->wait_exit(20), 0);
  EXPECT_EQ(http(s->port(), "GET", "/healthz").status, 0) << "no longer listening";
}

// 8 clients, mixed endpoints; FATHOM_SERVE_LOAD_N requests per client
// (default 60; the note's figures use 1000).
TEST(ServeLoad, ConcurrentClientsLatencyAndMemory) {
  auto s = start({"--workers", "2", "--queue", "16"});
  const char* env = std::getenv("FATHOM_SERVE_LOAD_N");
  const int per_client = env ? std::atoi(env) : 60;
  const std::vector<std::pair<std::string, std::string>> mix = {
      {"/v1/predict", R"({"text": "the film was great"})"},
      {"/v1/saliency", R"({"text": "the story was bad and boring", "method": "vanilla"})"},
      {"/v1/saliency", R"({"text": "the story was bad", "method": "ig", "steps": 20})"},
      {"/v1/saliency", R"({"text": "a fine actor", "method": "loo"})"},
      {"/v1/attack/reduce", R"({"text": "a fine actor and a good plot", "beam": 1})"},
      {"/v1/predict", R"({"text": 12})"},  // a 422 in the mix
  };
  for (int w = 0; w < 20; ++w) http(s->port(), "POST", mix[std::size_t(w) % mix.size()].first, mix[std::size_t(w) % mix.size()].second);
  const long rss0 = s->rss_kib();
  std::vector<std::future<std::vector<double>>> clients;
  std::atomic<int> bad{0};
  const auto t0 = std::chrono::steady_clock::now();
  for (int c = 0; c < 8; ++c)
    clients.push_back(std::async(std::launch::async, [&, c] {
      std::vector<double> ms;
      for (int i = 0; i < per_client; ++i) {
        const auto& [path, body] = mix[std::size_t(c + i) % mix.size()];
        const auto a = std::chrono::steady_clock::now();
        HttpResponse r = http(s->port(), "POST", path, body);
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
        const bool expected = path == "/v1/predict" && body.find("12") != std::string::npos ? r.status == 422
                                                                                             : r.status == 200;
        if (!expected && r.status != 503) ++bad;
      }
      return ms;
    }));
  std::vector<double> all;
  for (auto& f : clients) {
    auto v = f.get();
    all.insert(all.end(), v.begin(), v.end());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const long rss1 = s->rss_kib();
  std::sort(all.begin(), all.end());
  const double p50 = all[all.size() / 2], p99 = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  std::printf("[serve load] %zu requests, 8 clients: %.1f req/s, p50 %.2f ms, p99 %.2f ms, RSS %ld -> %ld KiB\n",
              all.size(), double(all.size()) / seconds, p50, p99, rss0, rss1);
  EXPECT_EQ(bad.load(), 0);
  EXPECT_TRUE(s->alive());
}

}  // namespace
