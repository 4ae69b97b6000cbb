// `fathom cache`: per-example gradients and representations of a corpus into
// one parallel HDF5 file, resumably (format in cache_build.h). build_cache
// runs five named steps: validate the options, plan the cache (model,
// parameters, corpus, schema: everything before the file is touched), open
// the output (create or resume), compute the pending chunks, finalize.
#include "fathom/grads/cache_build.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>

#include "fathom/comm/collective_check.h"
#include "fathom/core/error.h"
#include "fathom/core/hash.h"
#include "fathom/core/log.h"
#include "fathom/core/progress.h"
#include "fathom/data/example.h"
#include "fathom/grads/param_layout.h"
#include "fathom/grads/per_example.h"
#include "fathom/grads/projection.h"
#include "fathom/model/batching.h"
#include "fathom/model/bundle.h"
#include "fathom/store/cache_names.h"
#include "fathom/store/cache_writer.h"

namespace fathom::grads {
namespace {

namespace fs = std::filesystem;
namespace ds = store::cache_names::dataset;
namespace attr = store::cache_names::attr;
using Clock = std::chrono::steady_clock;

// ---- validate -------------------------------------------------------------

struct Settings {
  LossTarget target;
  GradientMethod method;
  ProjectionSpec projection;
  store::ElementType element_type;  // of features and gradients
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
  s.element_type = store::element_type_from_name(o.dtype);
  if (o.device == "cuda") {
    if (!torch::cuda::is_available()) throw UsageError("cache: --device cuda, but LibTorch sees no CUDA device");
    s.device = torch::Device(torch::kCUDA, 0);
  } else if (o.device != "cpu") {
    throw UsageError("cache: --device '" + o.device + "': expected cpu or cuda");
  }
  return s;
}

// ---- plan -----------------------------------------------------------------

// Everything decided before the output file is touched.
struct Plan {
  model::Bundle bundle;
  ParamLayout layout;
  std::unique_ptr<Projector> projector;  // null: gradients stored unprojected
  std::int64_t stored_dim = 0;           // k
  std::int64_t records = 0;
  std::int64_t id_width = 1;             // longest id in bytes
  std::string corpus_sha256;
  store::CacheSchema schema;             // resolved
};

std::string absolute(const std::string& p) { return fs::absolute(p).lexically_normal().string(); }

// The store's one chunk-size policy with a gradient cache's parameters: about
// 1 MiB of the widest dataset per chunk, whole batches, and at least ~64
// chunks when the corpus allows, so any rank count up to that gets work and
// a resume redoes little.
store::ChunkPolicy cache_chunk_policy(std::int64_t batch) {
  store::ChunkPolicy p;
  p.target_bytes = std::int64_t(1) << 20;
  p.row_multiple = batch;
  p.min_chunks = 64;
  return p;
}

// COLLECTIVE. Every rank reads its shard of the corpus once before anything
// is written: bad records and labels the model does not know fail here, with
// the file untouched. Returns the longest id in bytes (all ranks).
std::int64_t scan_corpus(const CacheOptions& o, const model::Bundle& bundle, LossTarget target,
                         std::int64_t records, comm::Communicator& comm) {
  std::int64_t longest = 1;
  comm::collective_check(comm, "reading " + o.corpus, [&] {
    data::CorpusReader reader(o.corpus, o.corpus_options, data::shard_range(records, comm.rank(), comm.size()));
    data::Example ex;
    while (reader.next(ex)) {
      longest = std::max<std::int64_t>(longest, std::int64_t(ex.id.size()));
      if (ex.label) {
        if (bundle.label_index(*ex.label) == data::kNoLabel)
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

void set_provenance(const CacheOptions& o, const Settings& s, const Plan& p, store::Attributes& a) {
  const auto& m = *p.bundle.model;
  a.set(attr::kKind, attr::kGradientCacheKind);
  a.set(attr::kModelDir, absolute(o.model_dir));
  a.set(attr::kModelSha256, p.bundle.weights_sha256);
  a.set(attr::kModelKind, m.kind());
  a.set(attr::kModelArchitecture, m.architecture());
  a.set(attr::kTokenizer, p.bundle.info.tokenizer_kind);
  a.set(attr::kMaxLength, p.bundle.info.max_length);
  a.set(attr::kLabels, p.bundle.info.labels);
  a.set(attr::kParamFilter, o.params);
  a.set(attr::kParams, p.layout.names());
  a.set(attr::kParamShapes, p.layout.shape_texts());
  a.set(attr::kParamCounts, p.layout.counts());
  a.set(attr::kGradientDim, p.layout.dim());
  a.set(attr::kStoredDim, p.stored_dim);
  a.set(attr::kProjection, s.projection.text());
  a.set(attr::kProjectionKind, s.projection.kind);
  a.set(attr::kProjectionDim, s.projection.kind == "none" ? p.layout.dim() : s.projection.dim);
  a.set(attr::kProjectionSeed, std::int64_t(s.projection.seed));
  a.set(attr::kDtype, o.dtype);
  a.set(attr::kTarget, loss_target_name(s.target));
  a.set(attr::kMethod, s.method == GradientMethod::loop ? "loop" : "vectorised");
  a.set(attr::kBatch, o.batch);
  a.set(attr::kCorpusPath, absolute(o.corpus));
  a.set(attr::kCorpusBytes, std::int64_t(fs::file_size(o.corpus)));
  a.set(attr::kCorpusSha256, p.corpus_sha256);
  a.set(attr::kCorpusRecords, p.records);
  a.set(attr::kScoreSign,
        "gradients are of the loss at the target label; influence score(z, z_test) = grad(z_test)^T H^-1 grad(z) / n, "
        "positive = z supports the test prediction");
}

store::CacheSchema make_schema(const CacheOptions& o, const Settings& s, const Plan& p) {
  const auto& m = *p.bundle.model;
  using store::ElementType;
  store::CacheSchema schema;
  schema.rows = p.records;
  schema.datasets = {{ds::kIds, p.id_width, ElementType::str},
                     {ds::kLabels, 0, ElementType::i64},
                     {ds::kTargets, 0, ElementType::i64},
                     {ds::kPredictions, 0, ElementType::i64},
                     {ds::kLosses, 0, ElementType::f32},
                     {ds::kLogits, m.num_labels(), ElementType::f32},
                     {ds::kFeatures, m.hidden_dim(), s.element_type},
                     {ds::kGradients, p.stored_dim, s.element_type}};
  schema.rows_per_chunk = o.rows_per_chunk;
  schema.chunk_policy = cache_chunk_policy(o.batch);
  set_provenance(o, s, p, schema.attributes);
  // Paths may change between runs (a moved model or corpus); their sha256
  // attributes are what a resume must match.
  schema.unchecked_attributes = {attr::kModelDir, attr::kCorpusPath};
  return store::resolved(schema);
}

// COLLECTIVE. Loads and checks everything the cache is built from.
void plan_cache(const CacheOptions& o, const Settings& s, comm::Communicator& comm, Plan& p) {
  if (!fs::exists(o.corpus)) throw InputError(o.corpus, "corpus file not found");
  comm::collective_check(comm, "loading the model bundle " + o.model_dir,
                         [&] { p.bundle = model::load_bundle(o.model_dir, s.device); });
  comm::collective_check(comm, "selecting parameters", [&] {
    p.layout = ParamLayout::select(*p.bundle.model, o.params);
    p.projector = make_projector(s.projection, p.layout);
  });
  p.stored_dim = p.projector ? p.projector->output_dim() : p.layout.dim();
  if (comm.is_root()) {
    spdlog::info("cache: parameters ({}): {}", o.params, p.layout.describe());
    spdlog::info("cache: stored gradient width {} ({}), dtype {}, target {}", p.stored_dim, s.projection.text(),
                 o.dtype, loss_target_name(s.target));
  }
  comm::collective_check(comm, "counting records of " + o.corpus,
                         [&] { p.records = data::count_records(o.corpus, o.corpus_options); });
  p.id_width = scan_corpus(o, p.bundle, s.target, p.records, comm);
  comm::on_root(comm, "hashing " + o.corpus, [&] { p.corpus_sha256 = sha256_file(o.corpus); });
  comm.broadcast(p.corpus_sha256, 0);
  p.schema = make_schema(o, s, p);
}

// ---- open -----------------------------------------------------------------

// COLLECTIVE. The first moment the output file is touched. Empty when a
// complete cache with the same settings is there already (it is not even
// opened for writing); else a writer on a new or resumed file.
std::optional<store::CacheWriter> open_output(const CacheOptions& o, const store::CacheSchema& schema,
                                              comm::Communicator& comm, CacheResult& result) {
  const fs::path parent = fs::path(o.out).parent_path();
  if (!parent.empty()) comm::on_root(comm, "creating " + parent.string(), [&] { fs::create_directories(parent); });
  comm.barrier();
  if (!o.overwrite && store::CacheWriter::complete_and_matching(o.out, schema, comm)) {
    result.resumed = result.already_complete = true;
    return std::nullopt;
  }
  if (o.overwrite) return store::CacheWriter::create(o.out, schema, comm);
  return store::CacheWriter::open_or_create(o.out, schema, comm, &result.resumed);
}

// ---- compute --------------------------------------------------------------

// Indices 0..n-1 of `examples` ordered by text length (stable), so a batch
// of neighbours pads little.
std::vector<std::int64_t> by_length(const std::vector<data::Example>& examples) {
  std::vector<std::int64_t> order(examples.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = std::int64_t(i);
  auto length = [&](std::int64_t i) {
    const auto& e = examples[std::size_t(i)];
    return e.text.size() + (e.text_pair ? e.text_pair->size() : 0);
  };
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return length(a) < length(b); });
  return order;
}

// One chunk's computed rows on the CPU, in corpus order.
struct ChunkRows {
  torch::Tensor targets, predictions, losses, logits, features, gradients;

  // Places batch results `g` at chunk rows `at` (allocating n rows, shaped
  // like g, on first use).
  void place(const ExampleGradients& g, const torch::Tensor& at, std::int64_t n) {
    put(targets, g.targets, at, n, torch::kLong);
    put(predictions, g.predictions, at, n, torch::kLong);
    put(losses, g.losses, at, n, torch::kFloat);
    put(logits, g.logits, at, n, torch::kFloat);
    put(features, g.features, at, n, torch::kFloat);
    put(gradients, g.gradients, at, n, torch::kFloat);
  }

 private:
  static void put(torch::Tensor& rows, const torch::Tensor& batch, const torch::Tensor& at, std::int64_t n,
                  torch::ScalarType type) {
    if (!rows.defined()) {
      std::vector<std::int64_t> shape = batch.sizes().vec();
      shape[0] = n;
      rows = torch::empty(shape, torch::TensorOptions().dtype(type));
    }
    rows.index_copy_(0, at, batch.to(torch::kCPU, type));
  }
};

// Computes one row-chunk and writes it. Within the chunk, examples are
// batched in order of length; the results go back to corpus order before the
// chunk is written, one call per dataset. Chunks do not depend on the number
// of ranks, so neither do the batches: any rank count computes every example
// in the same batch. Memory: one chunk of results.
class ChunkComputer {
 public:
  ChunkComputer(const CacheOptions& o, const Settings& s, model::Bundle& bundle, PerExampleGradients& engine,
                store::CacheWriter& writer)
      : o_(o), s_(s), bundle_(bundle), engine_(engine), writer_(writer) {}

  // `after_batch(n)` runs after each computed batch of n examples.
  template <class AfterBatch>
  void compute_chunk(const std::vector<data::Example>& examples, std::int64_t first_row, AfterBatch&& after_batch) {
    const std::int64_t n = std::int64_t(examples.size());
    const std::vector<std::int64_t> order = by_length(examples);
    ChunkRows rows;
    for (std::int64_t b0 = 0; b0 < n; b0 += o_.batch) {
      const std::int64_t count = std::min(o_.batch, n - b0);
      const std::vector<std::int64_t> members(order.begin() + b0, order.begin() + b0 + count);
      rows.place(compute_batch(examples, members, first_row), torch::tensor(members), n);
      after_batch(count);
    }
    write_chunk(examples, first_row, rows);
  }

 private:
  // Examples `members` of the chunk as one batch.
  ExampleGradients compute_batch(const std::vector<data::Example>& examples, const std::vector<std::int64_t>& members,
                                 std::int64_t first_row) {
    std::vector<data::Example> batch_examples;
    std::vector<std::int64_t> rows;
    for (std::int64_t j : members) {
      batch_examples.push_back(examples[std::size_t(j)]);
      rows.push_back(first_row + j);
    }
    model::Batch batch =
        model::make_batch(batch_examples, *bundle_.tokenizer, bundle_.info.max_length, bundle_.info.labels, rows)
            .to(s_.device);
    return engine_.compute(batch, s_.target);
  }

  void write_chunk(const std::vector<data::Example>& examples, std::int64_t first_row, ChunkRows& r) {
    const std::int64_t n = std::int64_t(examples.size());
    std::vector<std::int64_t> gold(examples.size(), data::kNoLabel);
    std::vector<std::string> ids(examples.size());
    for (std::size_t i = 0; i < examples.size(); ++i) {
      if (examples[i].label) gold[i] = bundle_.label_index(*examples[i].label);
      ids[i] = examples[i].id;
    }
    writer_.write_strings(ds::kIds, first_row, n, ids.data());
    writer_.write_rows(ds::kLabels, first_row, n, gold.data());
    writer_.write_rows(ds::kTargets, first_row, n, r.targets.data_ptr<std::int64_t>());
    writer_.write_rows(ds::kPredictions, first_row, n, r.predictions.data_ptr<std::int64_t>());
    writer_.write_rows(ds::kLosses, first_row, n, r.losses.data_ptr<float>());
    writer_.write_rows(ds::kLogits, first_row, n, r.logits.data_ptr<float>());
    writer_.write_rows(ds::kFeatures, first_row, n, r.features.data_ptr<float>());
    writer_.write_rows(ds::kGradients, first_row, n, r.gradients.data_ptr<float>());
  }

  const CacheOptions& o_;
  const Settings& s_;
  model::Bundle& bundle_;
  PerExampleGradients& engine_;
  store::CacheWriter& writer_;
};

// Rows of `chunks`, and of those already complete.
std::pair<std::int64_t, std::int64_t> rows_total_and_done(const store::CacheWriter& writer,
                                                          const std::vector<std::int64_t>& chunks) {
  std::int64_t total = 0, done = 0;
  for (auto c : chunks) {
    total += writer.chunk_rows(c).count;
    if (writer.chunk_complete(c)) done += writer.chunk_rows(c).count;
  }
  return {total, done};
}

// ANY RANK (inside a collective_check). Computes and writes this rank's
// `pending` chunks; returns the rows it wrote.
std::int64_t compute_pending(const CacheOptions& o, const Settings& s, Plan& p, PerExampleGradients& engine,
                             store::CacheWriter& writer, const std::vector<std::int64_t>& pending,
                             comm::Communicator& comm) {
  if (pending.empty()) return 0;
  const auto [my_rows, done_rows] = rows_total_and_done(writer, writer.chunks_of_rank(comm.rank(), comm.size()));
  Progress progress("cache", my_rows, "ex", o.progress_period_s);
  progress.set_initial(done_rows);
  ChunkComputer computer(o, s, p.bundle, engine, writer);
  std::int64_t rows_written = 0, batches = 0;
  auto after_batch = [&](std::int64_t n) {
    rows_written += n;
    progress.advance(n);
    ++batches;
    if (o.after_batch) o.after_batch(batches);
  };
  // One reader over this rank's pending rows; rows of complete chunks in
  // between are skipped.
  const store::RowRange first = writer.chunk_rows(pending.front()), last = writer.chunk_rows(pending.back());
  data::CorpusReader reader(o.corpus, o.corpus_options, data::Range{first.begin, last.end()});
  std::size_t next_chunk = 0;
  std::vector<data::Example> examples;
  data::Example ex;
  while (next_chunk < pending.size() && reader.next(ex)) {
    const std::int64_t row = first.begin + reader.records_read() - 1;
    const store::RowRange chunk = writer.chunk_rows(pending[next_chunk]);
    if (row < chunk.begin) continue;  // a complete chunk between pending ones
    examples.push_back(ex);
    if (row + 1 == chunk.end()) {
      computer.compute_chunk(examples, chunk.begin, after_batch);
      examples.clear();
      ++next_chunk;
    }
  }
  if (next_chunk < pending.size())
    throw InputError(o.corpus, "the corpus has fewer records than when it was counted (changed while reading?)");
  progress.finish();
  return rows_written;
}

// ---- finalize -------------------------------------------------------------

// COLLECTIVE. Marks the file complete (every rank's chunks) and records the
// run's throughput.
void finalize_cache(store::CacheWriter& writer, const PerExampleGradients& engine, Clock::time_point started,
                    std::int64_t rows_written, comm::Communicator& comm, CacheResult& result) {
  writer.finalize();
  result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  const std::int64_t total_written = comm.all_reduce_value<std::int64_t>(rows_written, comm::ReduceOp::sum);
  result.rows_per_s = result.seconds > 0 ? double(total_written) / result.seconds : 0.0;
  result.loop_params = engine.loop_parameters();
}

}  // namespace

CacheResult build_cache(const CacheOptions& o, comm::Communicator& comm) {
  const Settings s = validate(o);
  model::configure_threads(o.threads);
  Plan plan;
  plan_cache(o, s, comm, plan);

  CacheResult result;
  result.rows = plan.records;
  result.gradient_dim = plan.layout.dim();
  result.stored_dim = plan.stored_dim;
  result.params = plan.layout.names();
  result.chunks = store::num_chunks(plan.records, plan.schema.rows_per_chunk);
  std::optional<store::CacheWriter> writer = open_output(o, plan.schema, comm, result);
  if (!writer) return result;  // complete already: nothing to do

  const std::vector<std::int64_t> pending = writer->pending_chunks(comm.rank(), comm.size());
  const std::int64_t pending_total =
      comm.all_reduce_value<std::int64_t>(std::int64_t(pending.size()), comm::ReduceOp::sum);
  // (the writer logs how many chunks a resume found complete)
  result.already_complete = pending_total == 0;
  result.chunks_written = pending_total;

  PerExampleGradients engine(*plan.bundle.model, plan.layout, plan.projector.get(), s.method);
  const auto t0 = Clock::now();
  std::int64_t rows_written = 0;
  comm::collective_check(comm, "computing the cache " + o.out,
                         [&] { rows_written = compute_pending(o, s, plan, engine, *writer, pending, comm); });
  finalize_cache(*writer, engine, t0, rows_written, comm, result);
  return result;
}

}  // namespace fathom::grads
