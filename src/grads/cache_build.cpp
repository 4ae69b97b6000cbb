// `fathom cache`: per-example gradients and representations of a corpus into
// one parallel HDF5 file, resumably (format in cache.h).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>

#include "fathom/comm/collective_check.h"
#include "fathom/core/error.h"
#include "fathom/core/hash.h"
#include "fathom/core/log.h"
#include "fathom/core/progress.h"
#include "fathom/grads/cache.h"
#include "fathom/model/batching.h"
#include "fathom/model/bundle.h"
#include "fathom/store/cache_writer.h"

namespace fathom::grads {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Settings {
  LossTarget target;
  GradientMethod method;
  ProjectionSpec projection;
  store::Dtype dtype;
  torch::Device device = torch::kCPU;
};

Settings validate(const CacheOptions& o) {
  if (o.model_dir.empty()) throw UsageError("cache: no model bundle given (--model)");
  if (o.corpus.empty()) throw UsageError("cache: no corpus given (--corpus)");
  if (o.out.empty()) throw UsageError("cache: no output file given (--out)");
  if (o.batch < 1) throw UsageError("cache: --batch must be >= 1, got " + std::to_string(o.batch));
  if (o.rows_per_chunk < 0)
    throw UsageError("cache: --rows-per-chunk must be 0 (auto) or positive, got " + std::to_string(o.rows_per_chunk));
  if (o.corpus_options.on_error == data::CorpusOptions::OnError::skip)
    throw UsageError("cache: --on-error skip is not supported: cache rows are corpus records, so every record "
                     "must be valid (fix or filter the corpus first; `fathom stats` lists bad lines)");
  Settings s;
  s.target = parse_loss_target(o.target);
  s.method = parse_gradient_method(o.method);
  s.projection = parse_projection_spec(o.project);
  if (o.dtype != "f32" && o.dtype != "f16") throw UsageError("cache: --dtype '" + o.dtype + "': expected f32 or f16");
  s.dtype = store::dtype_from_name(o.dtype);
  if (o.device == "cuda") {
    if (!torch::cuda::is_available()) throw UsageError("cache: --device cuda, but LibTorch sees no CUDA device");
    s.device = torch::Device(torch::kCUDA, 0);
  } else if (o.device != "cpu") {
    throw UsageError("cache: --device '" + o.device + "': expected cpu or cuda");
  }
  return s;
}

std::string absolute(const std::string& p) { return fs::absolute(p).lexically_normal().string(); }

// Every rank reads its shard of the corpus once before anything is written:
// bad records and labels the model does not know fail here, with the file
// untouched. Returns the longest id in bytes (all ranks).
std::int64_t scan_corpus(const CacheOptions& o, const model::Bundle& bundle, LossTarget target,
                         std::int64_t records, comm::Communicator& comm) {
  std::int64_t longest = 1;
  comm::collective_check(comm, "reading " + o.corpus, [&] {
    data::CorpusReader reader(o.corpus, o.corpus_options, data::shard_range(records, comm.rank(), comm.size()));
    data::Example ex;
    while (reader.next(ex)) {
      longest = std::max<std::int64_t>(longest, std::int64_t(ex.id.size()));
      if (ex.label) {
        if (bundle.label_index(*ex.label) < 0)
          throw InputError(o.corpus, ex.line, "label",
                           "'" + *ex.label + "' is not a label of the model " + o.model_dir + " (" +
                               std::to_string(bundle.info.labels.size()) + " labels in labels.txt)");
      } else if (target == LossTarget::gold) {
        throw InputError(o.corpus, ex.line, "label",
                         "missing; --target gold needs a gold label on every record (or use --target predicted)");
      }
    }
  });
  return comm.all_reduce_value<std::int64_t>(longest, comm::ReduceOp::max);
}

store::CacheSchema make_schema(const CacheOptions& o, const Settings& s, const model::Bundle& bundle,
                               const ParamLayout& layout, std::int64_t stored_dim, std::int64_t records,
                               std::int64_t id_width, const std::string& corpus_sha256) {
  const auto& m = *bundle.model;
  store::CacheSchema schema;
  schema.rows = records;
  schema.datasets = {{"ids", id_width, store::Dtype::str},      {"labels", 0, store::Dtype::i64},
                     {"targets", 0, store::Dtype::i64},         {"predictions", 0, store::Dtype::i64},
                     {"losses", 0, store::Dtype::f32},          {"logits", m.num_labels(), store::Dtype::f32},
                     {"features", m.hidden_dim(), s.dtype},     {"gradients", stored_dim, s.dtype}};
  std::int64_t rpc = o.rows_per_chunk;
  if (rpc == 0) {
    // About 1 MiB of the widest dataset per chunk, in whole batches, and at
    // least ~64 chunks when the corpus allows, so any rank count up to that
    // gets work and a resume redoes little. Independent of the rank count:
    // a cache may be resumed with another number of ranks.
    const std::int64_t row_bytes =
        std::max({stored_dim, m.hidden_dim(), m.num_labels()}) * std::int64_t(store::dtype_size(s.dtype, 0));
    rpc = std::max<std::int64_t>(1, (std::int64_t(1) << 20) / std::max<std::int64_t>(1, row_bytes) / o.batch) * o.batch;
    const std::int64_t spread = ((records + 63) / 64 + o.batch - 1) / o.batch * o.batch;
    rpc = std::max(o.batch, std::min(rpc, spread));
  }
  schema.rows_per_chunk = rpc;
  auto& a = schema.attributes;
  a.set("kind", kGradientCacheKind);
  a.set("model_dir", absolute(o.model_dir));
  a.set("model_sha256", bundle.weights_sha256);
  a.set("model_kind", m.kind());
  a.set("model_architecture", m.architecture());
  a.set("tokenizer", bundle.info.tokenizer_kind);
  a.set("max_length", bundle.info.max_length);
  a.set("labels", bundle.info.labels);
  a.set("param_filter", o.params);
  a.set("params", layout.names());
  a.set("param_shapes", layout.shape_texts());
  a.set("param_counts", layout.counts());
  a.set("gradient_dim", layout.dim());
  a.set("stored_dim", stored_dim);
  a.set("projection", s.projection.text());
  a.set("projection_kind", s.projection.kind);
  a.set("projection_dim", s.projection.kind == "none" ? layout.dim() : s.projection.dim);
  a.set("projection_seed", std::int64_t(s.projection.seed));
  a.set("dtype", o.dtype);
  a.set("target", loss_target_name(s.target));
  a.set("method", s.method == GradientMethod::loop ? "loop" : "vectorised");
  a.set("batch", o.batch);
  a.set("corpus_path", absolute(o.corpus));
  a.set("corpus_bytes", std::int64_t(fs::file_size(o.corpus)));
  a.set("corpus_sha256", corpus_sha256);
  a.set("corpus_records", records);
  // Paths may change between runs (a moved model or corpus); their sha256
  // attributes are what a resume must match.
  schema.unchecked_attributes = {"model_dir", "corpus_path"};
  a.set("score_sign",
        "gradients are of the loss at the target label; influence score(z, z_test) = grad(z_test)^T H^-1 grad(z) / n, "
        "positive = z supports the test prediction");
  return schema;
}

// Test hook for the kill-and-resume test: FATHOM_TEST_KILL_AFTER_BATCHES=n
// makes rank FATHOM_TEST_KILL_RANK (default 0) SIGKILL itself after writing
// n batches (mid-chunk when a chunk holds several batches).
struct FaultInjection {
  std::int64_t after = -1;
  std::int64_t batches = 0;
  explicit FaultInjection(int rank) {
    const char* n = std::getenv("FATHOM_TEST_KILL_AFTER_BATCHES");
    const char* r = std::getenv("FATHOM_TEST_KILL_RANK");
    if (n && (r ? std::atoi(r) : 0) == rank) after = std::atoll(n);
  }
  void batch_written() {
    if (after >= 0 && ++batches >= after) ::kill(::getpid(), SIGKILL);
  }
};

// Computes one row-chunk and writes it. Within the chunk, examples are
// batched in order of length (shortest first), so a batch pads little; the
// results go back to corpus order before the chunk is written, one call per
// dataset. Chunks do not depend on the number of ranks, so neither do the
// batches: any rank count computes every example in the same batch.
// Memory: one chunk of results (rows_per_chunk rows of every dataset).
class ChunkComputer {
 public:
  ChunkComputer(const CacheOptions& o, const Settings& s, model::Bundle& bundle, PerExampleGradients& engine,
                store::CacheWriter& writer)
      : o_(o), s_(s), bundle_(bundle), engine_(engine), writer_(writer) {}

  // `after_batch(n)` runs after each computed batch of n examples.
  template <class AfterBatch>
  void compute_chunk(std::vector<data::Example>& examples, std::int64_t first_row, AfterBatch&& after_batch) {
    const std::int64_t n = std::int64_t(examples.size());
    std::vector<std::int64_t> order(examples.size());
    for (std::int64_t i = 0; i < n; ++i) order[std::size_t(i)] = i;
    auto length = [&](std::int64_t i) {
      const auto& e = examples[std::size_t(i)];
      return e.text.size() + (e.text_pair ? e.text_pair->size() : 0);
    };
    std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return length(a) < length(b); });

    torch::Tensor targets, predictions, losses, logits, features, gradients;
    for (std::int64_t b0 = 0; b0 < n; b0 += o_.batch) {
      const std::int64_t count = std::min(o_.batch, n - b0);
      std::vector<data::Example> batch_examples;
      std::vector<std::int64_t> rows;
      for (std::int64_t j = b0; j < b0 + count; ++j) {
        batch_examples.push_back(examples[std::size_t(order[std::size_t(j)])]);
        rows.push_back(first_row + order[std::size_t(j)]);
      }
      model::Batch batch =
          model::make_batch(batch_examples, *bundle_.tokenizer, bundle_.info.max_length, bundle_.info.labels, rows)
              .to(s_.device);
      ExampleGradients g = engine_.compute(batch, s_.target);
      if (!gradients.defined()) {
        auto rows_like = [&](const torch::Tensor& t, torch::ScalarType dtype) {
          std::vector<std::int64_t> shape = t.sizes().vec();
          shape[0] = n;
          return torch::empty(shape, torch::TensorOptions().dtype(dtype));
        };
        targets = rows_like(g.targets, torch::kLong);
        predictions = rows_like(g.predictions, torch::kLong);
        losses = rows_like(g.losses, torch::kFloat);
        logits = rows_like(g.logits, torch::kFloat);
        features = rows_like(g.features, torch::kFloat);
        gradients = rows_like(g.gradients, torch::kFloat);
      }
      // Back to corpus order: row order[j] of the chunk.
      torch::Tensor at = torch::tensor(std::vector<std::int64_t>(order.begin() + b0, order.begin() + b0 + count));
      targets.index_copy_(0, at, g.targets.to(torch::kCPU, torch::kLong));
      predictions.index_copy_(0, at, g.predictions.to(torch::kCPU, torch::kLong));
      losses.index_copy_(0, at, g.losses.to(torch::kCPU, torch::kFloat));
      logits.index_copy_(0, at, g.logits.to(torch::kCPU, torch::kFloat));
      features.index_copy_(0, at, g.features.to(torch::kCPU, torch::kFloat));
      gradients.index_copy_(0, at, g.gradients.to(torch::kCPU, torch::kFloat));
      after_batch(count);
    }

    std::vector<std::int64_t> gold(examples.size(), -1);
    std::vector<std::string> ids(examples.size());
    for (std::size_t i = 0; i < examples.size(); ++i) {
      if (examples[i].label) gold[i] = bundle_.label_index(*examples[i].label);
      ids[i] = examples[i].id;
    }
    writer_.write_strings("ids", first_row, n, ids.data());
    writer_.write_rows("labels", first_row, n, gold.data());
    writer_.write_rows("targets", first_row, n, targets.data_ptr<std::int64_t>());
    writer_.write_rows("predictions", first_row, n, predictions.data_ptr<std::int64_t>());
    writer_.write_rows("losses", first_row, n, losses.data_ptr<float>());
    writer_.write_rows("logits", first_row, n, logits.data_ptr<float>());
    writer_.write_rows("features", first_row, n, features.data_ptr<float>());
    writer_.write_rows("gradients", first_row, n, gradients.data_ptr<float>());
    examples.clear();
  }

 private:
  const CacheOptions& o_;
  const Settings& s_;
  model::Bundle& bundle_;
  PerExampleGradients& engine_;
  store::CacheWriter& writer_;
};

}  // namespace

CacheResult build_cache(const CacheOptions& o, comm::Communicator& comm) {
  const Settings s = validate(o);
  model::configure_threads(o.threads);
  if (!fs::exists(o.corpus)) throw InputError(o.corpus, "corpus file not found");

  model::Bundle bundle;
  comm::collective_check(comm, "loading the model bundle " + o.model_dir,
                         [&] { bundle = model::load_bundle(o.model_dir, s.device); });
  ParamLayout layout;
  std::unique_ptr<Projector> projector;
  comm::collective_check(comm, "selecting parameters", [&] {
    layout = ParamLayout::select(*bundle.model, o.params);
    projector = make_projector(s.projection, layout);
  });
  const std::int64_t stored_dim = projector ? projector->output_dim() : layout.dim();
  if (comm.is_root()) {
    spdlog::info("cache: parameters ({}): {}", o.params, layout.describe());
    spdlog::info("cache: stored gradient width {} ({}), dtype {}, target {}", stored_dim, s.projection.text(),
                 o.dtype, loss_target_name(s.target));
  }

  std::int64_t records = 0;
  comm::collective_check(comm, "counting records of " + o.corpus,
                         [&] { records = data::count_records(o.corpus, o.corpus_options); });
  const std::int64_t id_width = scan_corpus(o, bundle, s.target, records, comm);
  std::string corpus_sha;
  comm::on_root(comm, "hashing " + o.corpus, [&] { corpus_sha = sha256_file(o.corpus); });
  comm.broadcast(corpus_sha, 0);
  const store::CacheSchema schema = make_schema(o, s, bundle, layout, stored_dim, records, id_width, corpus_sha);

  // The first moment the output file is touched.
  const fs::path parent = fs::path(o.out).parent_path();
  if (!parent.empty()) comm::on_root(comm, "creating " + parent.string(), [&] { fs::create_directories(parent); });
  comm.barrier();
  CacheResult result;
  result.rows = records;
  result.gradient_dim = layout.dim();
  result.stored_dim = stored_dim;
  result.params = layout.names();
  if (!o.overwrite && store::CacheWriter::complete_and_matching(o.out, schema, comm)) {
    // Nothing to do, and the file is not even opened for writing.
    result.resumed = result.already_complete = true;
    result.chunks = store::num_chunks(records, schema.rows_per_chunk);
    return result;
  }
  store::CacheWriter writer = o.overwrite ? store::CacheWriter::create(o.out, schema, comm)
                                          : store::CacheWriter::open_or_create(o.out, schema, comm, &result.resumed);
  result.chunks = writer.num_chunks();

  const std::vector<std::int64_t> mine = writer.chunks_of_rank(comm.rank(), comm.size());
  const std::vector<std::int64_t> pending = writer.pending_chunks(comm.rank(), comm.size());
  const std::int64_t pending_total =
      comm.all_reduce_value<std::int64_t>(std::int64_t(pending.size()), comm::ReduceOp::sum);
  // (the writer logs how many chunks a resume found complete)
  result.already_complete = pending_total == 0;

  PerExampleGradients engine(*bundle.model, layout, projector.get(), s.method);
  const auto t0 = Clock::now();
  std::int64_t rows_written = 0;
  comm::collective_check(comm, "computing the cache " + o.out, [&] {
    if (pending.empty()) return;
    std::int64_t my_rows = 0, done_rows = 0;
    for (auto c : mine) my_rows += writer.chunk_rows(c).count;
    for (auto c : mine)
      if (writer.chunk_complete(c)) done_rows += writer.chunk_rows(c).count;
    Progress progress("cache", my_rows, "ex", o.progress_period_s);
    progress.set_initial(done_rows);
    FaultInjection fault(comm.rank());
    ChunkComputer computer(o, s, bundle, engine, writer);
    // One reader over this rank's pending rows; rows of complete chunks in
    // between are skipped.
    const store::RowRange first = writer.chunk_rows(pending.front()), last = writer.chunk_rows(pending.back());
    data::CorpusReader reader(o.corpus, o.corpus_options, data::Range{first.begin, last.end()});
    std::size_t next_chunk = 0;
    std::vector<data::Example> examples;
    data::Example ex;
    auto after_batch = [&](std::int64_t n) {
      rows_written += n;
      progress.advance(n);
      fault.batch_written();
    };
    while (next_chunk < pending.size() && reader.next(ex)) {
      const std::int64_t row = first.begin + reader.records_read() - 1;
      const store::RowRange chunk = writer.chunk_rows(pending[next_chunk]);
      if (row < chunk.begin) continue;  // a complete chunk between pending ones
      examples.push_back(ex);
      if (row + 1 == chunk.end()) {
        computer.compute_chunk(examples, chunk.begin, after_batch);
        ++next_chunk;
      }
    }
    if (next_chunk < pending.size())
      throw InputError(o.corpus, "the corpus has fewer records than when it was counted (changed while reading?)");
    progress.finish();
  });
  writer.finalize();
  result.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const std::int64_t total_written = comm.all_reduce_value<std::int64_t>(rows_written, comm::ReduceOp::sum);
  result.chunks_written = pending_total;
  result.rows_per_s = result.seconds > 0 ? double(total_written) / result.seconds : 0.0;
  result.loop_params = engine.loop_parameters();
  return result;
}

}  // namespace fathom::grads
