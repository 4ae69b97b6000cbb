// The JSON API of `fathom serve` without the HTTP layer (server.h).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "fathom/attack/hotflip.h"
#include "fathom/attack/reduce.h"
#include "fathom/attrib/lookup.h"
#include "fathom/attrib/saliency_explain.h"
#include "fathom/core/error.h"
#include "fathom/model/bundle.h"
#include "fathom/serve/server.h"
#include "serve_internal.h"

namespace fathom::serve {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

// A request that ran out of time (waiting or computing).
struct Timeout {};

struct Slot {
  model::Bundle bundle;
  bool busy = false;
};

double round6(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", p);
  return std::strtod(buf, nullptr);
}

}  // namespace

struct Api::Impl {
  ServeOptions options;
  std::vector<std::unique_ptr<Slot>> slots;
  std::mutex mu;
  std::condition_variable freed;
  int in_system = 0;  // admitted requests (waiting or computing)
  std::atomic<bool> draining{false};
  std::int64_t max_tokens = 0;
  std::unique_ptr<attrib::KnnLookup> knn_lookup;              // with --index
  std::unique_ptr<attrib::InfluenceLookup> influence_lookup;  // with --cache

  const model::Bundle& info() const { return slots.front()->bundle; }

  // ---- field validation ----

  // The text fields every POST shares, checked for size and token count.
  data::Example example(Fields& f) {
    data::Example e;
    e.id = "request";
    e.text = f.string("text", true, options.limits.max_text_bytes);
    if (e.text.empty()) throw ApiError(422, "text", "must not be empty");
    if (f.has("text_pair")) {
      e.text_pair = f.string("text_pair", true, options.limits.max_text_bytes);
      if (e.text_pair->empty()) throw ApiError(422, "text_pair", "must not be empty when given");
    }
    const data::Encoding enc = info().tokenizer->encode(
        e.text, e.text_pair ? std::optional<std::string_view>(*e.text_pair) : std::nullopt, 0);
    if (std::int64_t(enc.ids.size()) > max_tokens)
      throw ApiError(422, e.text_pair ? "text_pair" : "text",
                     "the input has " + std::to_string(enc.ids.size()) + " tokens ([CLS]/[SEP] included), at most " +
                         std::to_string(max_tokens) + " are allowed");
    return e;
  }

  std::string label_field(Fields& f, const std::string& name) {
    const std::string l = f.string(name, true, 1024);
    if (info().label_index(l) == data::kNoLabel) {
      std::string known;
      for (const auto& x : info().info.labels) known += (known.empty() ? "" : ", ") + x;
      throw ApiError(422, name, "unknown label '" + l + "' (the model's labels: " + known + ")");
    }
    return l;
  }

  // ---- admission and workers ----

  template <class Work>
  ApiResponse run(Work work) {
    const auto deadline =
        Clock::now() + std::chrono::microseconds(std::int64_t(options.limits.timeout_s * 1e6));
    Slot* slot = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu);
      if (in_system >= options.workers + options.queue)
        return error_response(503, "", "the server is busy (" + std::to_string(in_system) +
                                           " requests admitted); retry later", 1);
      ++in_system;
      for (;;) {
        for (auto& s : slots)
          if (!s->busy) {
            slot = s.get();
            break;
          }
        if (slot) break;
        if (freed.wait_until(lock, deadline) == std::cv_status::timeout) {
          --in_system;
          return error_response(503, "", "timed out waiting for a worker", 1);
        }
      }
      slot->busy = true;
    }
    ApiResponse r;
    try {
      auto checkpoint = [deadline] {
        if (Clock::now() > deadline) throw Timeout{};
      };
      r = work(slot->bundle, checkpoint);
    } catch (const Timeout&) {
      r = error_response(503, "", "the request ran past the server's time limit", 1);
    } catch (const ApiError& e) {
      r = error_response(e.status, e.field, e.what(), 0);
    } catch (const UsageError& e) {
      r = error_response(422, "", e.what(), 0);
    } catch (const InputError& e) {
      r = error_response(422, e.field(), e.what(), 0);
    }
    // Other exceptions are genuine bugs: the HTTP layer answers 500 for them.
    {
      std::lock_guard<std::mutex> lock(mu);
      slot->busy = false;
      --in_system;
    }
    freed.notify_one();
    return r;
  }

  // ---- endpoints ----

  ApiResponse model_info() {
    const model::Bundle& b = info();
    ordered_json j;
    j["architecture"] = b.info.architecture;
    j["kind"] = b.info.kind;
    j["tokenizer"] = b.info.tokenizer_kind;
    j["labels"] = b.info.labels;
    j["max_length"] = b.info.max_length;
    j["vocab_size"] = b.model->vocab_size();
    j["pairs"] = true;
    j["methods"] = attrib::saliency_method_names();
    j["rules"] = {"gauss-legendre", "riemann-left", "riemann-right", "riemann-middle", "riemann-trapezoid"};
    j["endpoints"] = {"/v1/predict", "/v1/saliency", "/v1/attack/hotflip", "/v1/attack/reduce", "/v1/model", "/healthz"};
    if (knn_lookup) j["endpoints"].push_back("/v1/knn");
    if (influence_lookup) j["endpoints"].push_back("/v1/influence");
    j["knn"] = bool(knn_lookup);
    j["influence"] = bool(influence_lookup);
    if (knn_lookup) {
      j["knn_rows"] = knn_lookup->rows();
      j["knn_texts"] = knn_lookup->has_texts();
    }
    if (influence_lookup) {
      j["influence_rows"] = influence_lookup->rows();
      j["influence_solver"] = influence_lookup->solver_name();
      j["influence_params"] = influence_lookup->param_count();
    }
    const ServeLimits& l = options.limits;
    j["limits"] = {{"max_body_bytes", l.max_body_bytes}, {"max_text_bytes", l.max_text_bytes},
                   {"max_tokens", max_tokens},          {"max_steps", l.max_steps},
                   {"max_samples", l.max_samples},      {"max_flips", l.max_flips},
                   {"max_beam", l.max_beam},            {"max_k", l.max_k},
                   {"max_top", l.max_top},              {"timeout_s", l.timeout_s},
                   {"workers", options.workers},        {"queue", options.queue}};
    return ok(j);
  }

  ApiResponse predict(const json& body) {
    Fields f(body);
    data::Example e = example(f);
    f.finish();
    return run([&](model::Bundle& b, const std::function<void()>&) {
      attrib::SaliencySettings s;
      s.method = attrib::SaliencyMethod::vanilla;  // one forward and backward: the cheapest way to the tokens
      const attrib::ExampleSaliency x = attrib::explain_saliency(b, {e}, s, attrib::SaliencyTarget{}, 1)[0];
      ordered_json j = prediction_json(b, x);
      ordered_json tokens = ordered_json::array();
      for (const auto& t : x.tokens)
        tokens.push_back({{"token", t.token}, {"text", t.text}, {"begin", t.begin}, {"end", t.end},
                          {"segment", t.segment}, {"special", t.special}});
      j["tokens"] = std::move(tokens);
      j["truncated"] = x.truncated;
      return ok(j);
    });
  }

  ApiResponse saliency(const json& body) {
    Fields f(body);
    data::Example e = example(f);
    std::vector<attrib::SaliencyMethod> methods;
    if (f.has("methods") && f.has("method")) throw ApiError(422, "method", "give either method or methods");
    if (f.has("method")) {
      methods.push_back(parse_method(f.string("method", true, 64), "method"));
    } else if (f.has("methods")) {
      const json& m = f.get("methods");
      if (!m.is_array() || m.empty() || m.size() > 5)
        throw ApiError(422, "methods", "must be a non-empty array of at most 5 method names");
      for (std::size_t i = 0; i < m.size(); ++i) {
        const std::string field = "methods[" + std::to_string(i) + "]";
        if (!m[i].is_string()) throw ApiError(422, field, "must be a string");
        methods.push_back(parse_method(m[i].get<std::string>(), field));
      }
    } else {
      methods = {attrib::SaliencyMethod::vanilla};
    }
    attrib::SaliencySettings s;
    attrib::SaliencyTarget target;
    if (f.has("target")) {
      const std::string t = f.string("target", true, 1024);
      if (t != "predicted") target = attrib::SaliencyTarget::parse(label_field(f, "target"));
    }
    if (f.has("of")) {
      const std::string of = f.string("of", true, 16);
      if (of != "logit" && of != "loss") throw ApiError(422, "of", "must be \"logit\" or \"loss\", got \"" + of + "\"");
      s.objective = attrib::parse_objective(of);
    }
    s.steps = f.integer("steps", 1, options.limits.max_steps).value_or(50);
    if (f.has("rule")) {
      const std::string r = f.string("rule", true, 64);
      try {
        s.rule = attrib::parse_quadrature_rule(r);
      } catch (const UsageError& x) {
        throw ApiError(422, "rule", x.what());
      }
    }
    if (s.rule == attrib::QuadratureRule::riemann_trapezoid && s.steps < 2)
      throw ApiError(422, "steps", "riemann-trapezoid needs steps >= 2");
    s.samples = f.integer("samples", 1, options.limits.max_samples).value_or(10);
    s.noise = f.number("noise", 0.0, 10.0).value_or(0.01);
    s.seed = std::uint64_t(f.integer("seed", 0, std::int64_t(1) << 53).value_or(0));
    f.finish();
    return run([&](model::Bundle& b, const std::function<void()>& checkpoint) {
      s.checkpoint = checkpoint;
      ordered_json j, results = ordered_json::object();
      for (attrib::SaliencyMethod m : methods) {
        s.method = m;
        const attrib::ExampleSaliency x = attrib::explain_saliency(b, {e}, s, target, 1)[0];
        if (j.empty()) {
          j = prediction_json(b, x);
          j["target"] = b.info.labels[std::size_t(x.target)];
        }
        ordered_json line = ordered_json::parse(attrib::saliency_json(x, b, s, target));
        ordered_json r;
        for (const char* k : {"settings", "objective", "baseline_objective", "completeness_gap", "tokens", "words"})
          if (line.contains(k)) r[k] = line[k];
        results[attrib::method_name(m)] = std::move(r);
        j["truncated"] = x.truncated;
      }
      j["results"] = std::move(results);
      return ok(j);
    });
  }

  ApiResponse hotflip(const json& body);
  ApiResponse reduce(const json& body);
  ApiResponse knn(const json& body);
  ApiResponse influence(const json& body);
  // 404 naming what is missing when `path` is a lookup that is not loaded; nullopt otherwise.
  std::optional<ApiResponse> not_loaded(const std::string& path) const;

  static attrib::SaliencyMethod parse_method(const std::string& name, const std::string& field) {
    try {
      return attrib::parse_saliency_method(name);
    } catch (const UsageError& e) {
      throw ApiError(422, field, e.what());
    }
  }

  ordered_json prediction_json(const model::Bundle& b, const attrib::ExampleSaliency& x) {
    ordered_json j;
    j["prediction"] = b.info.labels[std::size_t(x.prediction)];
    ordered_json p = ordered_json::object();
    for (std::size_t c = 0; c < b.info.labels.size(); ++c) p[b.info.labels[c]] = round6(x.probs[c]);
    j["probs"] = std::move(p);
    return j;
  }

  static ApiResponse ok(const ordered_json& j) {
    ApiResponse r;
    r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
    return r;
  }
};

ApiResponse Api::Impl::hotflip(const json& body) {
  Fields f(body);
  data::Example e = example(f);
  attack::HotFlipConfig c;
  if (f.has("target")) c.target = label_field(f, "target");
  c.max_flips = f.integer("max_flips", 1, options.limits.max_flips).value_or(5);
  f.finish();
  return run([&](model::Bundle& b, const std::function<void()>& checkpoint) {
    checkpoint();
    const attack::HotFlipResult x = attack::hotflip(b, e, c);
    const auto& labels = b.info.labels;
    auto probs = [&](const std::vector<double>& p) {
      ordered_json o = ordered_json::object();
      for (std::size_t k = 0; k < labels.size() && k < p.size(); ++k) o[labels[k]] = round6(p[k]);
      return o;
    };
    auto tokens = [&](const std::vector<std::int64_t>& ids) {
      ordered_json a = ordered_json::array();
      for (std::int64_t id : ids) a.push_back(b.tokenizer->id_to_token(id));
      return a;
    };
    ordered_json j;
    j["text"] = x.text;
    if (x.text_pair) j["text_pair"] = *x.text_pair;
    j["adversarial_text"] = x.adversarial_text;
    if (x.adversarial_text_pair) j["adversarial_text_pair"] = *x.adversarial_text_pair;
    j["label_before"] = labels[std::size_t(x.label_before)];
    j["label_after"] = labels[std::size_t(x.label_after)];
    j["probs_before"] = probs(x.probs_before);
    j["probs_after"] = probs(x.probs_after);
    j["target"] = c.target ? ordered_json(*c.target) : ordered_json();
    j["success"] = x.success;
    j["tokens_before"] = tokens(x.ids_before);
    j["tokens_after"] = tokens(x.ids_after);
    ordered_json flips = ordered_json::array();
    for (const attack::Flip& fl : x.flips)
      flips.push_back({{"position", fl.position}, {"old", fl.old_token}, {"new", fl.new_token}, {"score", fl.score},
                       {"probs", probs(fl.probs)}});
    j["flips"] = std::move(flips);
    return ok(j);
  });
}

ApiResponse Api::Impl::reduce(const json& body) {
  Fields f(body);
  data::Example e = example(f);
  attack::ReduceConfig c;
  c.beam = f.integer("beam", 1, options.limits.max_beam).value_or(3);
  c.min_tokens = f.integer("min_tokens", 1, max_tokens).value_or(1);
  f.finish();
  return run([&](model::Bundle& b, const std::function<void()>& checkpoint) {
    checkpoint();
    const attack::ReduceResult x = attack::reduce(b, e, c);
    ordered_json j;
    j["text"] = x.text;
    if (x.text_pair) j["text_pair"] = *x.text_pair;
    j["label"] = b.info.labels[std::size_t(x.label)];
    j["confidence_before"] = round6(x.confidence_before);
    j["reduced_text"] = x.reduced_text;
    if (x.reduced_text_pair) j["reduced_text_pair"] = *x.reduced_text_pair;
    j["reduced_tokens"] = x.reduced_tokens;
    ordered_json before = ordered_json::array();
    for (std::int64_t id : x.ids_before) before.push_back(b.tokenizer->id_to_token(id));
    j["tokens_before"] = std::move(before);
    ordered_json removed = ordered_json::array();
    for (const attack::Removal& r : x.removed)
      removed.push_back({{"position", r.position}, {"token", r.token}, {"saliency", r.saliency},
                         {"confidence", round6(r.confidence)}});
    j["removed"] = std::move(removed);
    return ok(j);
  });
}

ApiResponse Api::Impl::knn(const json& body) {
  Fields f(body);
  data::Example e = example(f);
  const std::int64_t k = f.integer("k", 1, std::min(options.limits.max_k, knn_lookup->rows())).value_or(
      std::min<std::int64_t>(10, knn_lookup->rows()));
  f.finish();
  return run([&](model::Bundle& b, const std::function<void()>& checkpoint) {
    checkpoint();
    return ok(knn_lookup->lookup(b, e, k));
  });
}

ApiResponse Api::Impl::influence(const json& body) {
  Fields f(body);
  data::Example e = example(f);
  const std::int64_t top = f.integer("top", 1, std::min(options.limits.max_top, influence_lookup->rows()))
                               .value_or(std::min<std::int64_t>(10, influence_lookup->rows()));
  std::string target = "predicted";
  if (f.has("target")) {
    target = f.string("target", true, 1024);
    if (target != "predicted") target = label_field(f, "target");
  }
  f.finish();
  // A worker slot bounds the admitted requests; the lookup's own float64
  // model serialises the computations.
  return run([&](model::Bundle&, const std::function<void()>& checkpoint) {
    checkpoint();
    return ok(influence_lookup->lookup(e, top, target));
  });
}

std::optional<ApiResponse> Api::Impl::not_loaded(const std::string& path) const {
  if (path == "/v1/knn" && !knn_lookup)
    return error_response(404, "", "/v1/knn needs a features index: start the server with --index I "
                                   "(`fathom index --field features` of the cache) [--cache C.h5 --corpus TRAIN.jsonl]", 0);
  if (path == "/v1/influence" && !influence_lookup)
    return error_response(404, "", "/v1/influence needs a gradient cache: start the server with --cache C.h5 "
                                   "(`fathom cache` of the training corpus) [--corpus TRAIN.jsonl]", 0);
  return std::nullopt;
}

Api::Api(const ServeOptions& options) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.options = options;
  const ServeLimits& l = options.limits;
  if (options.workers < 1) throw UsageError("serve: --workers must be >= 1, got " + std::to_string(options.workers));
  if (options.queue < 0) throw UsageError("serve: --queue must be >= 0, got " + std::to_string(options.queue));
  if (l.max_body_bytes < 1 || l.max_text_bytes < 1 || l.max_steps < 1 || l.max_samples < 1 || l.max_flips < 1 ||
      l.max_beam < 1 || l.max_tokens < 0 || !(l.timeout_s > 0))
    throw UsageError("serve: every limit must be >= 1 (timeout > 0)");
  for (int w = 0; w < options.workers; ++w) {
    auto s = std::make_unique<Slot>();
    s->bundle = model::load_bundle(options.model_dir);
    s->bundle.model->train(false);
    m.slots.push_back(std::move(s));
  }
  m.max_tokens = l.max_tokens > 0 ? l.max_tokens : m.info().info.max_length;
  if (l.max_k < 1 || l.max_top < 1) throw UsageError("serve: --max-k and --max-top must be >= 1");
  if (!options.corpus.empty() && options.index.empty() && options.cache.empty())
    throw UsageError("serve: --corpus gives the texts of --index/--cache rows; give --index or --cache too");
  if (options.cache.empty() && !options.solver.empty())
    throw UsageError("serve: --solver is for /v1/influence; give --cache too");
  if (!options.index.empty()) {
    attrib::KnnSources k;
    k.model_dir = options.model_dir;
    k.index = options.index;
    k.cache = options.cache;
    k.corpus = options.corpus;
    k.snippet_chars = options.snippet_chars;
    m.knn_lookup = std::make_unique<attrib::KnnLookup>(k);
  }
  if (!options.cache.empty()) {
    attrib::InfluenceLookupOptions io;
    io.model_dir = options.model_dir;
    io.cache = options.cache;
    io.corpus = options.corpus;
    io.snippet_chars = options.snippet_chars;
    io.solver.solver = options.solver;
    io.solver.damping = options.damping;
    m.influence_lookup = std::make_unique<attrib::InfluenceLookup>(io);
  }
}

Api::~Api() = default;

void Api::start_draining() { impl_->draining = true; }

ApiResponse Api::handle(const std::string& http_method, const std::string& path, const std::string& body) {
  Impl& m = *impl_;
  const Route* route = find_route(path);
  if (!route) return error_response(404, "", "no such endpoint: " + path, 0);
  if (auto missing = m.not_loaded(path)) return *missing;
  if (http_method != route->method)
    return error_response(405, "", path + " takes " + route->method + ", not " + http_method, 0);
  if (path == "/") {
    ApiResponse r;
    r.content_type = "text/html; charset=utf-8";
    r.body = page_html();
    return r;
  }
  if (path == "/healthz") {
    if (m.draining) return error_response(503, "", "draining", 1, R"({"status":"draining"})");
    ApiResponse r;
    r.body = R"({"status":"ok"})";
    return r;
  }
  if (path == "/v1/model") return m.model_info();
  if (std::int64_t(body.size()) > m.options.limits.max_body_bytes)
    return error_response(413, "body", "the body has " + std::to_string(body.size()) + " bytes, at most " +
                                           std::to_string(m.options.limits.max_body_bytes) + " are allowed", 0);
  json parsed;
  try {
    parsed = json::parse(body);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for numbers like 1e400
    return error_response(400, "body", std::string("malformed JSON: ") + e.what(), 0);
  }
  try {
    if (!parsed.is_object()) throw ApiError(422, "body", "must be a JSON object");
    if (path == "/v1/predict") return m.predict(parsed);
    if (path == "/v1/saliency") return m.saliency(parsed);
    if (path == "/v1/attack/hotflip") return m.hotflip(parsed);
    if (path == "/v1/attack/reduce") return m.reduce(parsed);
    if (path == "/v1/knn") return m.knn(parsed);
    if (path == "/v1/influence") return m.influence(parsed);
  } catch (const ApiError& e) {
    return error_response(e.status, e.field, e.what(), 0);
  }
  return error_response(404, "", "no such endpoint: " + path, 0);
}

}  // namespace fathom::serve
