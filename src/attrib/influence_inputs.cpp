// Checking and loading what influence() works on (influence_internal.h).
#include <algorithm>
#include <filesystem>

#include "fathom/core/strings.h"
#include "fathom/comm/collective_check.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/core/log.h"
#include "fathom/model/batching.h"
#include "fathom/store/cache_names.h"
#include "fathom/store/cache_reader.h"
#include "influence_internal.h"

namespace fathom::attrib::detail {
namespace {

namespace ds = store::cache_names::dataset;
namespace attr = store::cache_names::attr;


void check_cache(const InfluenceOptions& o, InfluenceInputs& in, const store::CacheReader& reader) {
  in.cache = grads::read_cache_info(reader);
  if (!in.cache.complete)
    throw InputError(o.cache, "the cache is incomplete (an interrupted `fathom cache`: rerun it to finish)");
  const std::vector<std::string> problems = grads::check_cache_model(in.cache, o.model_dir);
  if (!problems.empty())
    throw InputError(o.cache, "was not built from the model " + o.model_dir + ": " + join(problems, "; "));
  if (in.cache.labels != in.bundle.info.labels)
    throw InputError(o.cache, 0, "labels",
                     "cache has [" + join(in.cache.labels, ", ") + "], model has [" +
                         join(in.bundle.info.labels, ", ") + "]");
  if (in.cache.target != "gold")
    spdlog::warn("{}: its gradients were taken at the {} label; influence expects the training loss at the gold "
                 "label (`fathom cache --target gold`)",
                 o.cache, in.cache.target);
  in.layout = grads::ParamLayout::select(*in.bundle.model, join(in.cache.params, ","));
  if (in.layout.names() != in.cache.params || in.layout.dim() != in.cache.gradient_dim)
    throw InputError(o.cache, 0, "params",
                     "the cache's parameter list (" + join(in.cache.params, ", ") + "; D = " +
                         std::to_string(in.cache.gradient_dim) + ") is not what the model gives for it (" +
                         in.layout.describe() + ")");
  in.projector = grads::make_projector(grads::parse_projection_spec(in.cache.projection), in.layout);
  const std::int64_t k = in.projector ? in.projector->output_dim() : in.layout.dim();
  if (k != in.cache.stored_dim)
    throw InputError(o.cache, 0, "projection",
                     "projection '" + in.cache.projection + "' gives " + std::to_string(k) +
                         " values per row on this model, the cache stores " + std::to_string(in.cache.stored_dim));
}

void check_training(const InfluenceOptions& o, InfluenceInputs& in, const store::CacheReader& reader) {
  in.corpus = o.corpus.empty() ? reader.attributes().get_string(attr::kCorpusPath) : o.corpus;
  if (!std::filesystem::exists(in.corpus))
    throw InputError(in.corpus, "the training corpus does not exist" +
                                    std::string(o.corpus.empty() ? " (the path the cache records; give --corpus)" : ""));
  in.training = data::read_corpus(in.corpus, o.corpus_options);
  if (std::int64_t(in.training.size()) != in.cache.rows)
    throw InputError(in.corpus, "has " + std::to_string(in.training.size()) + " good records, the cache " + o.cache +
                                    " has " + std::to_string(in.cache.rows) + " rows: it is not the corpus the cache was built from");
  if (std::none_of(in.training.begin(), in.training.end(), [](const data::Example& e) { return bool(e.label); }))
    throw InputError(in.corpus, "no record has a label: the training Hessian needs gold labels");
  const std::vector<std::string> ids = reader.read_strings(ds::kIds, 0, in.cache.rows);
  for (std::size_t i = 0; i < ids.size(); ++i)
    if (ids[i] != in.training[i].id)
      throw InputError(in.corpus, in.training[i].line, "id",
                       "record " + std::to_string(i) + " has id '" + in.training[i].id + "', cache row " +
                           std::to_string(i) + " has '" + ids[i] + "': not the corpus the cache was built from");
}

}  // namespace

const char* const kInfluenceSign =
    "score(z_i, z_test) = grad L(z_test)^T (H + damping I)^-1 grad L(z_i) / n: the predicted increase of the "
    "test loss if training example z_i were removed. Positive = proponent (supports the prediction), negative = "
    "opponent. Proponents are listed by descending score, opponents by ascending score.";

void check_influence_options(const InfluenceOptions& o) {
  if (o.queries.empty()) throw UsageError("influence: no queries given (--queries)");
  if (o.cache.empty()) throw UsageError("influence: no cache given (--cache)");
  if (o.top < 1) throw UsageError("--top must be >= 1, got " + std::to_string(o.top));
  if (o.query_batch < 1) throw UsageError("--query-batch must be >= 1");
  if (o.hessian_batch < 1) throw UsageError("--hessian-batch must be >= 1");
  if (o.dtype != "float64" && o.dtype != "float32")
    throw UsageError("--dtype must be float64 or float32, got '" + o.dtype + "'");
  if (o.candidates != "all") {
    if (o.candidates.rfind("knn:", 0) != 0)
      throw UsageError("--candidates must be 'all' or 'knn:K', got '" + o.candidates + "'");
    std::int64_t k = 0;
    try {
      k = std::stoll(o.candidates.substr(4));
    } catch (const std::exception&) {
    }
    if (k < 1) throw UsageError("--candidates knn:K needs K >= 1, got '" + o.candidates + "'");
    if (o.index.empty()) throw UsageError("--candidates knn:K needs --index (a features index from `fathom index`)");
  }
}

InfluenceInputs load_influence_inputs(const InfluenceOptions& o, const std::string& what, comm::Communicator& comm) {
  InfluenceInputs in;
  comm::collective_check(comm, what + ": loading the model bundle " + o.model_dir,
                         [&] { in.bundle = model::load_bundle(o.model_dir); });
  comm::collective_check(comm, what + ": checking the cache " + o.cache, [&] {
    const store::CacheReader reader = store::CacheReader::open(o.cache);
    check_cache(o, in, reader);
    check_training(o, in, reader);
  });
  if (!o.queries.empty()) {
    comm::collective_check(comm, what + ": reading the queries " + o.queries, [&] {
      in.query_records = data::count_records(o.queries, o.query_options);
      in.queries = data::read_corpus(o.queries, o.query_options);
      if (in.queries.empty()) throw InputError(o.queries, "no good query records");
      // Unknown labels are an error whatever the target (the same check as make_batch).
      for (const auto& q : in.queries)
        if (q.label && in.bundle.label_index(*q.label) == data::kNoLabel)
          throw InputError(o.queries, q.line, "label",
                           "'" + *q.label + "' is not a label of the model [" + join(in.bundle.info.labels, ", ") + "]");
    });
  }
  return in;
}

std::string solver_fingerprint(const InfluenceInputs& in, const std::string& dtype) {
  // The corpus by its canonical path: "out/x.jsonl" and "/abs/out/x.jsonl"
  // (a job's relative path and the path the cache records) are one corpus.
  std::error_code ec;
  const std::filesystem::path canonical = std::filesystem::weakly_canonical(in.corpus, ec);
  const std::string corpus = ec ? in.corpus : canonical.string();
  return in.cache.model_sha256 + "|" + join(in.cache.params, ",") + "|" + corpus + "|" +
         std::to_string(in.cache.rows) + "|" + dtype;
}

TrainingRows training_rows(const InfluenceInputs& in) {
  TrainingRows rows;
  rows.rows = std::int64_t(in.training.size());
  const model::Bundle* bundle = &in.bundle;
  const std::vector<data::Example>* examples = &in.training;
  rows.make_batch = [bundle, examples](const std::vector<std::int64_t>& r) {
    std::vector<data::Example> picked;
    picked.reserve(r.size());
    for (std::int64_t i : r) picked.push_back((*examples)[std::size_t(i)]);
    return model::make_batch(picked, *bundle->tokenizer, bundle->info.max_length, bundle->info.labels, r)
        .to(bundle->model->device());
  };
  return rows;
}

}  // namespace fathom::attrib::detail
