#include <chrono>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "command.h"
#include "fathom/index/build.h"

namespace fathom::cli {

Registered register_index(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<index::BuildOptions>();  // outlives parsing: the callback holds it
  auto* sub = app.add_subcommand("index", "Build a sharded FAISS index over a cache's features or gradients");
  sub->add_option("--cache", o->cache, "fathom cache (HDF5, from `fathom cache`), complete")->required();
  sub->add_option("--field", o->field, "dataset to index: features | gradients")->capture_default_str();
  sub->add_option("--spec", o->spec,
                  "FAISS index_factory string: Flat, IVF<nlist>,Flat, IVF<nlist>,PQ<m>, HNSW<M>, "
                  "OPQ<m>,IVF<nlist>,PQ<m>, ...")
      ->required();
  sub->add_option("--metric", o->metric,
                  "l2 (squared Euclidean) | ip (inner product) | cosine (inner product of L2-normalised vectors)")
      ->capture_default_str();
  sub->add_option("--train-sample", o->train_sample,
                  "rows to train on (IVF/PQ), a seeded sample; 0 = min(rows, 100000)")
      ->capture_default_str();
  sub->add_option("--nprobe", o->nprobe, "IVF lists probed per query, stored in the manifest; 0 = min(nlist, 16)")
      ->capture_default_str();
  sub->add_option("--seed", o->seed, "training-sample seed")->capture_default_str();
  sub->add_flag("--overwrite", o->overwrite, "replace an existing index instead of refusing");
  sub->add_option("--out", o->out, "index manifest (JSON); shard files are written beside it")->required();
  sub->footer(
      "Output: the manifest OUT (JSON, format \"fathom.index\": spec, metric, nprobe, field, dim, rows,\n"
      "the cache's path and identity, shard row ranges, fathom version) and one FAISS index file per\n"
      "rank, OUT.shard-<s>-of-<S>, holding cache rows [row_begin, row_end) of that shard.\n"
      "Every rank adds its own rows; training runs on rank 0 over the seeded sample. Search it with\n"
      "`fathom knn --index OUT` at any number of ranks. Nothing is written when the request is invalid\n"
      "(exit 2): a spec FAISS rejects, an unknown metric or field, a missing or incomplete cache, an\n"
      "existing OUT without --overwrite.");
  return {sub, [o, &ctx] {
            o->threads = ctx.threads;
            auto& comm = ctx.comm();
            const auto started = std::chrono::steady_clock::now();
            const index::Manifest m = index::build_index(*o, comm);
            const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
            if (comm.is_root()) {
              std::int64_t bytes = 0;
              for (const auto& s : m.shards) bytes += s.bytes;
              std::ostringstream out;
              out << std::fixed << std::setprecision(2);
              out << "index: " << o->out << "\n"
                  << "  rows:     " << m.rows << " x " << m.dim << " (/" << m.field << " of " << m.cache_path << ")\n"
                  << "  spec:     " << m.spec << ", metric " << index::metric_name(m.metric)
                  << (m.normalized ? " (inner product of L2-normalised vectors)" : "")
                  << (m.nprobe > 0 ? ", nprobe " + std::to_string(m.nprobe) : std::string()) << "\n"
                  << "  trained:  "
                  << (m.train_rows > 0 ? std::to_string(m.train_rows) + " rows (seed " + std::to_string(m.seed) + ")"
                                       : std::string("no training needed"))
                  << "\n"
                  << "  shards:   " << m.shards.size() << " file(s), " << bytes << " bytes\n";
              for (const auto& s : m.shards)
                out << "    " << s.file << ": rows [" << s.row_begin << ", " << s.row_end << "), " << s.bytes
                    << " bytes\n";
              out << "  built in: " << seconds << " s on " << comm.size() << " rank(s)\n";
              std::cout << out.str();
            }
            return 0;
          }};
}

}  // namespace fathom::cli
