// Checking and loading what representer() works on (representer_internal.h).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "fathom/core/strings.h"
#include "fathom/comm/collective_check.h"
#include "fathom/comm/communicator.h"
#include "fathom/core/error.h"
#include "fathom/core/log.h"
#include "fathom/data/example.h"
#include "fathom/grads/cache_info.h"
#include "fathom/index/manifest.h"
#include "fathom/model/checkpoint.h"
#include "fathom/store/cache_names.h"
#include "fathom/store/cache_reader.h"
#include "representer_internal.h"

namespace fathom::attrib::detail {
namespace {

namespace ds = store::cache_names::dataset;


// The l2_last of the newest complete checkpoint's training config, or 0
// when the bundle has no checkpoints (a bundle copied without them, or a
// TorchScript bundle).
double training_l2_last(const std::string& model_dir) {
  std::vector<model::CheckpointInfo> checkpoints;
  try {
    checkpoints = model::list_checkpoints(model_dir);
  } catch (const InputError& e) {
    spdlog::warn("representer: cannot read the checkpoints of {} ({}); λ falls back to the default", model_dir,
                 e.what());
    return 0;
  }
  if (checkpoints.empty()) return 0;
  const model::CheckpointState state = model::read_checkpoint_state(checkpoints.back().path);
  const nlohmann::json config = nlohmann::json::parse(state.config_json, nullptr, false);
  if (!config.is_object() || !config.contains("l2_last") || !config["l2_last"].is_number()) return 0;
  return config["l2_last"].get<double>();
}

void check_cache(const RepresenterOptions& o, Inputs& in) {
  const store::CacheReader reader = store::CacheReader::open(o.cache);
  const grads::CacheInfo info = grads::read_cache_info(reader);
  if (!info.complete)
    throw InputError(o.cache, "the cache is incomplete (an interrupted `fathom cache`: rerun it to finish)");
  const std::vector<std::string> problems = grads::check_cache_model(info, o.model_dir);
  if (!problems.empty())
    throw InputError(o.cache, "was not built from the model " + o.model_dir + ": " + join(problems, "; "));
  if (info.labels != in.bundle.info.labels)
    throw InputError(o.cache, 0, "labels",
                     "cache has [" + join(info.labels, ", ") + "], model has [" + join(in.bundle.info.labels, ", ") + "]");
  for (const char* name : {ds::kFeatures, ds::kLabels, ds::kIds})
    if (!reader.schema().find(name))
      throw InputError(o.cache, 0, name, "the cache has no /" + std::string(name) + " dataset");
  in.dim = in.bundle.model->hidden_dim();
  in.classes = in.bundle.model->num_labels();
  const std::int64_t width = reader.dataset(ds::kFeatures).width;
  if (width != in.dim)
    throw InputError(o.cache, 0, ds::kFeatures,
                     "rows of " + std::to_string(width) + " values, the model's hidden_dim is " + std::to_string(in.dim));
  in.rows = reader.rows();
  in.rows_per_chunk = reader.rows_per_chunk();
  in.id_width = std::max<std::int64_t>(1, reader.dataset(ds::kIds).width);
  in.model_sha256 = info.model_sha256;
  in.cache_identity = index::cache_identity(reader);
  if (o.top > in.rows)
    throw UsageError("representer: --top " + std::to_string(o.top) + " is larger than the cache's " +
                     std::to_string(in.rows) + " rows");
}

}  // namespace

void check_options(const RepresenterOptions& o) {
  auto require = [](bool ok, const std::string& what) {
    if (!ok) throw UsageError("representer: " + what);
  };
  require(!o.model_dir.empty(), "no model bundle given (--model)");
  require(!o.cache.empty(), "no gradient cache given (--cache)");
  require(!o.queries.empty(), "no query corpus given (--queries)");
  require(!o.out.empty(), "no output file given (--out)");
  require(o.top >= 1, "--top must be >= 1, got " + std::to_string(o.top));
  require(o.snippet_chars >= 0, "--snippet must be >= 0 (0 = whole texts), got " + std::to_string(o.snippet_chars));
  if (o.lambda)
    require(*o.lambda > 0 && std::isfinite(*o.lambda), "--lambda must be > 0, got " + fmt::format("{}", *o.lambda));
  require(o.tolerance > 0 && std::isfinite(o.tolerance), "--tolerance must be > 0");
  require(o.max_iterations >= 0, "--max-iterations must be >= 0");
  require(o.batch >= 1, "--batch must be >= 1, got " + std::to_string(o.batch));
  require(o.block_queries >= 1, "block_queries must be >= 1");
}

Inputs load_inputs(const RepresenterOptions& o, comm::Communicator& comm) {
  Inputs in;
  comm::collective_check(comm, "loading the model bundle " + o.model_dir,
                         [&] { in.bundle = model::load_bundle(o.model_dir); });
  comm::collective_check(comm, "checking the cache " + o.cache, [&] { check_cache(o, in); });
  comm::collective_check(comm, "reading the query corpus " + o.queries,
                         [&] { in.query_records = data::count_records(o.queries, o.query_options); });
  comm::collective_check(comm, "resolving lambda", [&] {
    if (o.lambda) {
      in.lambda = *o.lambda;
      in.lambda_source = "--lambda";
    } else if (const double l2 = training_l2_last(o.model_dir); l2 > 0) {
      in.lambda = l2;
      in.lambda_source = "training --l2-last";
    } else {
      in.lambda = kDefaultLambda;
      in.lambda_source = "default";
    }
  });
  return in;
}

HeadRows read_head_rows(const std::string& cache, const ReductionPlan& plan, std::int64_t dim, int rank, int size) {
  const store::CacheReader reader = store::CacheReader::open(cache);
  const store::RowRange mine = plan.rank_rows(rank, size);
  HeadRows r;
  r.source = cache;
  r.plan = plan;
  r.first_row = mine.begin;
  r.rows = mine.count;
  r.dim = dim;
  r.features.resize(std::size_t(mine.count * dim));
  r.labels.resize(std::size_t(mine.count));
  if (mine.count == 0) return r;
  store::RowBlocks blocks(reader, ds::kFeatures, mine, std::size_t(64) << 20);
  while (blocks.next())
    std::copy_n(blocks.data(), blocks.count() * dim, r.features.begin() + (blocks.begin() - mine.begin) * dim);
  reader.read_rows(ds::kLabels, mine.begin, mine.count, r.labels.data());
  return r;
}

Head model_head(model::Bundle& bundle) {
  torch::Tensor w, b;
  for (auto& [name, t] : bundle.model->named_parameters()) {
    if (name == "classifier.weight") w = t;
    if (name == "classifier.bias") b = t;
  }
  const std::int64_t C = bundle.model->num_labels(), H = bundle.model->hidden_dim();
  if (!w.defined() || !b.defined() || w.dim() != 2 || w.size(0) != C || w.size(1) != H || b.numel() != C)
    throw InputError(bundle.dir, "the model has no classifier.weight [" + std::to_string(C) + "," +
                                     std::to_string(H) + "] and classifier.bias [" + std::to_string(C) + "]");
  const torch::Tensor wd = w.detach().to(torch::kCPU, torch::kDouble).contiguous();
  const torch::Tensor bd = b.detach().to(torch::kCPU, torch::kDouble).contiguous();
  Head h;
  h.classes = C;
  h.dim = H;
  h.weight.assign(wd.data_ptr<double>(), wd.data_ptr<double>() + C * H);
  h.bias.assign(bd.data_ptr<double>(), bd.data_ptr<double>() + C);
  return h;
}

void read_row_names(const std::string& cache, const std::vector<std::int64_t>& rows, std::vector<std::string>& ids,
                    std::vector<std::int64_t>& labels) {
  const store::CacheReader reader = store::CacheReader::open(cache);
  std::vector<std::int64_t> wanted;
  for (std::int64_t r : rows)
    if (r >= 0) wanted.push_back(r);
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  // Contiguous runs of wanted rows, one read each.
  std::vector<std::string> run_ids;
  std::vector<std::int64_t> run_labels;
  std::vector<std::string> id_of(wanted.size());
  std::vector<std::int64_t> label_of(wanted.size());
  for (std::size_t a = 0; a < wanted.size();) {
    std::size_t b = a + 1;
    while (b < wanted.size() && wanted[b] == wanted[b - 1] + 1) ++b;
    const std::int64_t count = std::int64_t(b - a);
    run_ids = reader.read_strings(ds::kIds, wanted[a], count);
    run_labels.resize(std::size_t(count));
    reader.read_rows(ds::kLabels, wanted[a], count, run_labels.data());
    for (std::size_t j = a; j < b; ++j) {
      id_of[j] = run_ids[j - a];
      label_of[j] = run_labels[j - a];
    }
    a = b;
  }
  ids.assign(rows.size(), std::string());
  labels.assign(rows.size(), data::kNoLabel);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] < 0) continue;
    const std::size_t j = std::size_t(std::lower_bound(wanted.begin(), wanted.end(), rows[i]) - wanted.begin());
    ids[i] = id_of[j];
    labels[i] = label_of[j];
  }
}

}  // namespace fathom::attrib::detail
