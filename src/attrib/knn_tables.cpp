// Validation and the tables kNN output lines name (knn_internal.h).
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "fathom/comm/collective_check.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"
#include "fathom/data/example.h"
#include "fathom/grads/cache_info.h"
#include "fathom/store/cache_names.h"
#include "fathom/store/cache_reader.h"
#include "knn_internal.h"
#include "training_texts.h"

namespace fathom::attrib::knn_detail {
namespace {

namespace fs = std::filesystem;
namespace ds = store::cache_names::dataset;

void check_options(const KnnSources& o, const std::string& mode, bool model_required) {
  if (model_required && o.model_dir.empty()) throw UsageError(mode + ": no model bundle given (--model)");
  if (o.index.empty()) throw UsageError(mode + ": no index given (--index)");
  if (o.out.empty()) throw UsageError(mode + ": no output file given (--out)");
  if (o.k < 1) throw UsageError(mode + ": --k must be >= 1, got " + std::to_string(o.k));
  if (o.nprobe < 0) throw UsageError(mode + ": --nprobe must be >= 0, got " + std::to_string(o.nprobe));
  if (o.snippet_chars < 0)
    throw UsageError(mode + ": --snippet must be >= 0 (0 = whole texts), got " + std::to_string(o.snippet_chars));
}

}  // namespace

nlohmann::ordered_json KnnTables::label_json(std::int64_t label) const {
  if (label < 0 || label >= std::int64_t(label_names.size())) return nullptr;
  return label_names[std::size_t(label)];
}

KnnTables load_tables(const KnnSources& o, const std::string& mode, std::int64_t k_limit_slack,
                      comm::Communicator& comm) {
  // knn runs queries through the model; audit reads the cache's features
  // only, so the model is an optional check there.
  check_options(o, mode, /*model_required=*/k_limit_slack == 0);
  KnnTables t;
  comm::collective_check(comm, "loading the index manifest " + o.index, [&] {
    t.manifest = index::Manifest::load(o.index);
    if (t.manifest.field != store::cache_names::dataset::kFeatures)
      throw InputError(o.index, 0, "field",
                       "the index is over /" + t.manifest.field + "; " + mode +
                           " needs an index over /features (fathom index --field features)");
  });
  t.cache_path = o.cache.empty() ? t.manifest.cache_path : o.cache;
  grads::CacheInfo info;
  comm::collective_check(comm, "opening the cache " + t.cache_path, [&] {
    if (!fs::exists(t.cache_path))
      throw InputError(t.cache_path, std::string("cache not found") +
                                         (o.cache.empty() ? " (the path the index manifest records; pass --cache)" : ""));
    auto reader = store::CacheReader::open(t.cache_path);
    if (!reader.is_complete())
      throw InputError(t.cache_path, "the cache is incomplete (resume it with fathom cache first)");
    index::check_same_cache(t.manifest, o.index, reader);
    info = grads::read_cache_info(reader);
  });
  t.rows = info.rows;
  t.label_names = info.labels;
  const std::int64_t max_k = t.rows - k_limit_slack;
  if (o.k > max_k)
    throw UsageError(mode + ": --k " + std::to_string(o.k) + " is larger than " +
                     (k_limit_slack > 0 ? "the other rows of the cache (" : "the rows of the cache (") +
                     std::to_string(max_k) + ")");
  if (!o.model_dir.empty()) comm::collective_check(comm, "checking the model " + o.model_dir + " against the cache", [&] {
    const std::vector<std::string> problems = grads::check_cache_model(info, o.model_dir);
    if (problems.empty()) return;
    std::string text;
    for (const auto& p : problems) text += "\n  " + p;
    throw InputError(t.cache_path, "was not built from the model " + o.model_dir + ":" + text);
  });
  comm::on_root(comm, "reading the cache ids and labels", [&] {
    auto reader = store::CacheReader::open(t.cache_path);
    t.ids = reader.read_strings(ds::kIds, 0, t.rows);
    t.labels.assign(std::size_t(t.rows), data::kNoLabel);
    reader.read_rows(ds::kLabels, 0, t.rows, t.labels.data());
  });
  if (!o.corpus.empty())
    comm::on_root(comm, "checking the corpus " + o.corpus + " against the cache",
                  [&] { t.texts = detail::read_training_texts(o.corpus, o.corpus_options, t.ids, o.snippet_chars); });
  return t;
}

double exact_float(float value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", double(value));
  return std::strtod(buf, nullptr);
}

nlohmann::ordered_json neighbors_json(const index::Neighbors& lists, std::int64_t q, const KnnTables& tables,
                                      std::int64_t skip_row, std::int64_t take, std::vector<std::int64_t>* rows_out) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (std::int64_t j = 0; j < lists.k && std::int64_t(out.size()) < take; ++j) {
    const std::size_t at = std::size_t(q * lists.k + j);
    const std::int64_t row = lists.rows[at];
    if (row < 0 || row == skip_row) continue;
    nlohmann::ordered_json n;
    n["id"] = tables.ids[std::size_t(row)];
    n["label"] = tables.label_json(tables.labels[std::size_t(row)]);
    n["distance"] = exact_float(lists.distances[at]);
    if (tables.has_texts()) n["text"] = tables.texts[std::size_t(row)];
    out.push_back(std::move(n));
    if (rows_out) rows_out->push_back(row);
  }
  return out;
}

void write_meta(const std::string& out, const nlohmann::ordered_json& meta) {
  write_file_atomic(out + ".meta.json", meta.dump(2) + "\n");
}

nlohmann::ordered_json common_meta(const KnnSources& o, const KnnTables& t, const std::string& mode, int ranks) {
  nlohmann::ordered_json m;
  m["format"] = "fathom-knn-meta";
  m["format_version"] = 1;
  m["mode"] = mode;
  m["model_dir"] = o.model_dir.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(o.model_dir);
  m["index"] = o.index;
  m["cache"] = t.cache_path;
  m["corpus"] = o.corpus.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(o.corpus);
  m["k"] = o.k;
  m["metric"] = index::metric_name(t.manifest.metric);
  m["spec"] = t.manifest.spec;
  m["ranks"] = ranks;
  return m;
}

}  // namespace fathom::attrib::knn_detail
