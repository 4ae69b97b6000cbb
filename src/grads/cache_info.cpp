// Reading a gradient cache's description, checking it against a bundle, and
// this rank's row blocks (cache_info.h).
#include "fathom/grads/cache_info.h"

#include <algorithm>

#include "fathom/core/error.h"
#include "fathom/grads/param_layout.h"
#include "fathom/model/bundle.h"
#include "fathom/store/cache_names.h"
#include "fathom/store/schema.h"

namespace fathom::grads {

namespace attr = store::cache_names::attr;

CacheInfo read_cache_info(const store::CacheReader& reader) {
  const store::Attributes& a = reader.attributes();
  if (!a.has(attr::kKind) || a.get_string(attr::kKind) != attr::kGradientCacheKind)
    throw InputError(reader.path(), std::string("not a gradient cache (no attribute ") + attr::kKind + " = \"" +
                                        attr::kGradientCacheKind + "\"; written by `fathom cache`)");
  CacheInfo info;
  info.path = reader.path();
  info.rows = reader.rows();
  info.complete = reader.is_complete();
  // Text attributes by name: the one mapping from the names table to fields.
  const std::pair<std::string CacheInfo::*, const char*> texts[] = {
      {&CacheInfo::model_sha256, attr::kModelSha256}, {&CacheInfo::model_kind, attr::kModelKind},
      {&CacheInfo::model_architecture, attr::kModelArchitecture}, {&CacheInfo::projection, attr::kProjection},
      {&CacheInfo::dtype, attr::kDtype}, {&CacheInfo::target, attr::kTarget}};
  for (const auto& [field, name] : texts) info.*field = a.get_string(name);
  const std::pair<std::vector<std::string> CacheInfo::*, const char*> lists[] = {
      {&CacheInfo::labels, attr::kLabels}, {&CacheInfo::params, attr::kParams},
      {&CacheInfo::param_shapes, attr::kParamShapes}};
  for (const auto& [field, name] : lists) info.*field = a.get_strings(name);
  info.param_counts = a.get_ints(attr::kParamCounts);
  info.gradient_dim = a.get_int(attr::kGradientDim);
  info.stored_dim = a.get_int(attr::kStoredDim);
  return info;
}

std::vector<std::string> check_cache_model(const CacheInfo& info, const std::string& model_dir) {
  std::vector<std::string> problems;
  model::Bundle bundle = model::load_bundle(model_dir);
  auto differ = [&](const std::string& what, const std::string& cache, const std::string& model) {
    if (cache != model) problems.push_back(what + ": cache has " + cache + ", model has " + model);
  };
  differ(attr::kModelSha256, info.model_sha256, bundle.weights_sha256);
  differ(attr::kModelKind, info.model_kind, bundle.model->kind());
  differ(attr::kModelArchitecture, info.model_architecture, bundle.model->architecture());
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
    return s;
  };
  differ(attr::kLabels, join(info.labels), join(bundle.info.labels));
  // Parameters by name and shape.
  ParamLayout layout = ParamLayout::select(*bundle.model, "all");
  for (std::size_t i = 0; i < info.params.size(); ++i) {
    const auto& names = layout.names();
    auto it = std::find(names.begin(), names.end(), info.params[i]);
    if (it == names.end()) {
      problems.push_back("parameter " + info.params[i] + ": in the cache, not in the model");
      continue;
    }
    const std::string shape = layout.shape_texts()[std::size_t(it - names.begin())];
    if (i < info.param_shapes.size() && info.param_shapes[i] != shape)
      problems.push_back("parameter " + info.params[i] + ": cache has shape " + info.param_shapes[i] +
                         ", model has " + shape);
  }
  return problems;
}

store::RowBlocks rank_blocks(const store::CacheReader& reader, const std::string& dataset, int rank, int size,
                             std::size_t memory_budget_bytes) {
  return store::RowBlocks(reader, dataset, store::shard_rows(reader.rows(), rank, size), memory_budget_bytes);
}

}  // namespace fathom::grads
