// `fathom serve`: options -> serve::serve (server.h).
#include "command.h"
#include "fathom/core/log.h"
#include "fathom/serve/server.h"

namespace fathom::cli {

Registered register_serve(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<serve::ServeOptions>();  // outlives parsing: the callback holds it
  auto* sub = app.add_subcommand("serve", "HTTP JSON API and web page for per-instance explanations "
                                          "(prediction, saliency, HotFlip, input reduction, nearest neighbours, influence)");
  sub->add_option("--model", o->model_dir, "model bundle directory")->required();
  sub->add_option("--host", o->host, "address to bind (127.0.0.1: this machine only)")->capture_default_str();
  sub->add_option("--port", o->port, "TCP port (0 = any free port, printed on start)")->capture_default_str();
  sub->add_option("--workers", o->workers, "models computing at once (one copy of the model each)")
      ->capture_default_str();
  sub->add_option("--queue", o->queue, "requests waiting for a worker before 503 + Retry-After")
      ->capture_default_str();
  sub->add_option("--index", o->index, "features index of the cache (`fathom index --field features`): enables /v1/knn");
  sub->add_option("--cache", o->cache, "gradient cache of the training corpus (`fathom cache`): enables /v1/influence "
                                       "(and is the cache --index must be of)");
  sub->add_option("--corpus", o->corpus, "training corpus the cache was built from: texts of neighbours and "
                                         "proponents/opponents (influence defaults to the path the cache records)");
  sub->add_option("--solver", o->solver, "influence solver: exact | arnoldi | ekfac (default: exact when the "
                                         "parameter count allows, else arnoldi; lissa and cg cannot serve)");
  sub->add_option("--damping", o->damping, "influence damping lambda")->capture_default_str();
  sub->add_option("--snippet", o->snippet_chars, "characters of training text shown (0 = all)")->capture_default_str();
  auto& l = o->limits;
  sub->add_option("--max-body", l.max_body_bytes, "request body limit in bytes (413 above)")->capture_default_str();
  sub->add_option("--max-text", l.max_text_bytes, "bytes of text and of text_pair, each")->capture_default_str();
  sub->add_option("--max-tokens", l.max_tokens, "tokens of an input ([CLS]/[SEP] included; 0 = the model's max_length)")
      ->capture_default_str();
  sub->add_option("--max-steps", l.max_steps, "largest IG steps a request may ask for")->capture_default_str();
  sub->add_option("--max-samples", l.max_samples, "largest SmoothGrad samples a request may ask for")
      ->capture_default_str();
  sub->add_option("--max-flips", l.max_flips, "largest HotFlip max_flips a request may ask for")->capture_default_str();
  sub->add_option("--max-beam", l.max_beam, "largest input-reduction beam a request may ask for")->capture_default_str();
  sub->add_option("--max-k", l.max_k, "largest /v1/knn k a request may ask for")->capture_default_str();
  sub->add_option("--max-top", l.max_top, "largest /v1/influence top a request may ask for")->capture_default_str();
  sub->add_option("--timeout", l.timeout_s, "seconds a request may wait for a worker and compute (then 503)")
      ->capture_default_str();
  sub->footer(
      "Endpoints: GET / (web page), GET /healthz, GET /v1/model, POST /v1/predict, /v1/saliency,\n"
      "/v1/attack/hotflip, /v1/attack/reduce, and with --index POST /v1/knn, with --cache POST /v1/influence\n"
      "(JSON bodies; see the README for the schemas).\n"
      "Bad requests get 4xx with {\"error\": {\"status\", \"field\", \"message\"}}; a full queue gets 503\n"
      "with Retry-After. SIGTERM or SIGINT: stop accepting, finish the requests in flight, exit 0.");
  return {sub, [o, &ctx] {
            // One process, no communicator: the log level still applies (rank 0 of 1).
            log::init(0, 1, ctx.log_level);
            o->threads = ctx.threads;
            return serve::serve(*o);
          }};
}

}  // namespace fathom::cli
