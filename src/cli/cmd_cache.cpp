#include <iostream>

#include "command.h"
#include "corpus_options.h"
#include "fathom/grads/cache_build.h"

namespace fathom::cli {

Registered register_cache(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<grads::CacheOptions>();  // outlives parsing: the callback holds it
  auto* sub = app.add_subcommand("cache", "Per-example gradients, losses and features of a corpus into one HDF5 file");
  sub->add_option("--model", o->model_dir, "model bundle directory")->required();
  sub->add_option("--corpus", o->corpus, "corpus (jsonl/tsv/csv); one cache row per record, in file order")
      ->required();
  sub->add_option("--out", o->out, "cache file (HDF5); an existing one built the same way is resumed")->required();
  sub->add_option("--params", o->params,
                  "parameters θ: comma-separated globs or groups (classifier, head, embeddings) or 'all'")
      ->capture_default_str();
  sub->add_option("--project", o->project,
                  "random projection of gradient rows: none | gaussian:DIM:SEED | rademacher:DIM:SEED | "
                  "logra:DIM:SEED (factorised per layer)")
      ->capture_default_str();
  sub->add_option("--dtype", o->dtype, "storage of features and gradients: f32 | f16")->capture_default_str();
  sub->add_option("--target", o->target, "label of the loss: gold | predicted")->capture_default_str();
  sub->add_option("--method", o->method,
                  "per-example gradients: vectorised (one batched backward) | loop (one backward per example, "
                  "the naive baseline)")
      ->capture_default_str();
  sub->add_option("--batch", o->batch, "examples per batch")->capture_default_str();
  sub->add_option("--rows-per-chunk", o->rows_per_chunk,
                  "rows per HDF5 chunk: the resume unit, batched by length in memory (0 = about 1 MiB, at least ~64 chunks)")
      ->capture_default_str();
  sub->add_option("--device", o->device, "cpu | cuda")->capture_default_str();
  sub->add_flag("--overwrite", o->overwrite, "replace an existing cache instead of resuming it");
  add_corpus_flags(*sub, o->corpus_options);
  sub->footer(
      "Output: one HDF5 file, all ranks writing their rows (parallel HDF5 under mpirun):\n"
      "  /ids /labels /targets /predictions /losses [N], /logits [N,C], /features [N,H],\n"
      "  /gradients [N,k] (k = D, or the projection's DIM), plus attributes: model sha256,\n"
      "  parameter names/shapes, projection kind/dim/seed, dtype, target, corpus sha256, versions.\n"
      "Gradients are of the cross-entropy at the target label. Influence sign convention:\n"
      "  score(z, z_test) = grad(z_test)^T H^-1 grad(z) / n; positive = z supports the prediction.\n"
      "Resume: rerun the same command after a failure; only unfinished chunks are recomputed.\n"
      "A file built from another model, parameter list, projection or corpus is refused\n"
      "(naming the attribute) unless --overwrite. Inspect it with `fathom inspect FILE`.");
  return {sub, [o, &ctx] {
            o->threads = ctx.threads;
            auto& comm = ctx.comm();
            grads::CacheResult r = grads::build_cache(*o, comm);
            if (comm.is_root()) {
              if (r.already_complete) {
                std::cout << "cache: " << o->out << " is already complete (" << r.rows << " rows); nothing to do\n";
              } else {
                std::cout << "cache: " << r.rows << " rows, gradient D = " << r.gradient_dim << ", stored width "
                          << r.stored_dim << ", " << r.chunks_written << " of " << r.chunks << " chunks computed"
                          << (r.resumed ? " (resumed)" : "") << ", " << r.rows_per_s << " examples/s; written to "
                          << o->out << "\n";
              }
            }
            return 0;
          }};
}

}  // namespace fathom::cli
