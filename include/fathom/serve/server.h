#pragma once
// `fathom serve`: a JSON API over HTTP and a web page for per-instance
// explanations (saliency, HotFlip, input reduction), one model per worker.
//
// Endpoints (request and response schemas: docs/drafts/saliency_serve.md):
//   GET  /                   the web page (inline HTML/CSS/JS/SVG, no external assets)
//   GET  /healthz            {"status": "ok"} (503 {"status": "draining"} after SIGTERM)
//   GET  /v1/model           model, labels, methods, endpoints, limits
//   POST /v1/predict         {"text", "text_pair"?}
//   POST /v1/saliency        {"text", "text_pair"?, "methods"?, "target"?, "of"?, "steps"?,
//                             "rule"?, "samples"?, "noise"?, "seed"?}
//   POST /v1/attack/hotflip  {"text", "text_pair"?, "target"?, "max_flips"?}
//   POST /v1/attack/reduce   {"text", "text_pair"?, "beam"?, "min_tokens"?}
//   POST /v1/knn             {"text", "text_pair"?, "k"?}          (with --index; else 404)
//   POST /v1/influence       {"text", "text_pair"?, "top"?, "target"?}  (with --cache; else 404)
// The last two answer as attrib/lookup.h (the numbers `fathom knn` and
// `fathom influence` write for the same text); without the index or cache
// they answer 404 {"error": {..., "message": what is missing}}.
// Errors: {"error": {"status", "field" (null when none), "message"}} with
//   400 malformed JSON (field "body"), 404 unknown path, 405 wrong HTTP
//   method, 413 body over max_body_bytes, 422 a field that is missing, of the
//   wrong type, unknown (also unknown fields: typos are refused), out of
//   range or over a limit; 503 + Retry-After when the queue is full or the
//   request waited/ran past timeout_s. Bad input never gives a 5xx.
// Concurrency: `workers` models (each request holds one while it computes),
// at most `queue` more requests waiting for one; the HTTP thread pool has
// workers + queue + 4 threads. Torch threads: threads (0 = cores / workers).
// Nothing in a request names a file; files come only from these options.
#include <cstdint>
#include <memory>
#include <string>

namespace fathom::serve {

struct ServeLimits {
  std::int64_t max_body_bytes = 64 * 1024;
  std::int64_t max_text_bytes = 16 * 1024;  // text and text_pair, each
  std::int64_t max_tokens = 0;              // tokens of the encoding; 0 = the bundle's max_length
  std::int64_t max_steps = 200;             // ig
  std::int64_t max_samples = 50;            // smoothgrad
  std::int64_t max_flips = 20;              // hotflip
  std::int64_t max_beam = 5;                // reduce
  std::int64_t max_k = 100;                 // knn neighbours
  std::int64_t max_top = 100;               // influence proponents/opponents
  double timeout_s = 30.0;                  // waiting for a worker + computing
};

struct ServeOptions {
  std::string model_dir;
  std::string host = "127.0.0.1";
  int port = 8080;                          // 0 = any free port (printed)
  int workers = 2;
  int queue = 16;
  int threads = 0;
  ServeLimits limits;
  // Optional lookups (attrib/lookup.h), built once at start-up:
  std::string index;                        // features index -> /v1/knn
  std::string cache;                        // gradient cache -> /v1/influence (and the index's cache)
  std::string corpus;                       // training corpus: texts ("" = knn without texts; influence
                                            // reads the path the cache records)
  std::string solver;                       // influence solver: "" = auto (exact | arnoldi), exact, arnoldi, ekfac
  double damping = 0.01;
  std::int64_t snippet_chars = 200;
};

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  int retry_after_s = 0;                    // > 0: send Retry-After
};

// The API without the HTTP layer: validation, admission, the models. All
// methods are thread-safe.
class Api {
 public:
  // Loads `workers` copies of the bundle, and the lookups when index/cache are
  // given. InputError/UsageError as load_bundle and attrib/lookup.h (a cache
  // of another model, an index of another cache, a corpus that is not the
  // cache's), for workers/queue < 1, bad limits, corpus without index/cache.
  explicit Api(const ServeOptions& options);
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  ApiResponse handle(const std::string& http_method, const std::string& path, const std::string& body);
  // After this /healthz answers 503 "draining"; requests already admitted finish.
  void start_draining();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Listens on host:port and serves until SIGTERM or SIGINT, then stops
// accepting, lets in-flight requests finish and returns 0. Prints
// "fathom serve: listening on http://HOST:PORT/" on stdout once listening.
// UsageError when it cannot bind.
int serve(const ServeOptions& options);

}  // namespace fathom::serve
