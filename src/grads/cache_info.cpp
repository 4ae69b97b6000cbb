// Reading a gradient cache's description, checking it against a bundle, and
// this rank's row blocks (cache.h).
#include <algorithm>

#include "fathom/core/error.h"
#include "fathom/grads/cache.h"
#include "fathom/grads/param_layout.h"
#include "fathom/model/bundle.h"
#include "fathom/store/schema.h"

namespace fathom::grads {

CacheInfo read_cache_info(const store::CacheReader& reader) {
  const store::Attributes& a = reader.attributes();
  if (!a.has("kind") || a.get_string("kind") != kGradientCacheKind)
    throw InputError(reader.path(), "not a gradient cache (no attribute kind = \"gradients\"; written by `fathom cache`)");
  CacheInfo info;
  info.path = reader.path();
  info.rows = reader.rows();
  info.complete = reader.is_complete();
  info.model_sha256 = a.get_string("model_sha256");
  info.model_kind = a.get_string("model_kind");
  info.model_architecture = a.get_string("model_architecture");
  info.labels = a.get_strings("labels");
  info.params = a.get_strings("params");
  info.param_shapes = a.get_strings("param_shapes");
  info.param_counts = a.get_ints("param_counts");
  info.gradient_dim = a.get_int("gradient_dim");
  info.stored_dim = a.get_int("stored_dim");
  info.projection = a.get_string("projection");
  info.dtype = a.get_string("dtype");
  info.target = a.get_string("target");
  return info;
}

std::vector<std::string> check_cache_model(const CacheInfo& info, const std::string& model_dir) {
  std::vector<std::string> problems;
  model::Bundle bundle = model::load_bundle(model_dir);
  auto differ = [&](const std::string& what, const std::string& cache, const std::string& model) {
    if (cache != model) problems.push_back(what + ": cache has " + cache + ", model has " + model);
  };
  differ("model_sha256", info.model_sha256, bundle.weights_sha256);
  differ("model_kind", info.model_kind, bundle.model->kind());
  differ("model_architecture", info.model_architecture, bundle.model->architecture());
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
    return s;
  };
  differ("labels", join(info.labels), join(bundle.info.labels));
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
