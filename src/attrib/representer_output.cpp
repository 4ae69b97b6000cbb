// The files representer() writes besides its JSONL (representer_internal.h).
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>

#include "fathom/comm/communicator.h"
#include "fathom/store/cache_names.h"
#include "fathom/store/cache_reader.h"
#include "fathom/store/cache_writer.h"
#include "representer_internal.h"

namespace fathom::attrib::detail {

namespace ds = store::cache_names::dataset;

void write_alpha_file(const std::string& path, const RepresenterOptions& o, const Inputs& in, const HeadRows& rows,
                      const std::vector<double>& local_alpha, bool head_fitted, double gradient_norm,
                      std::int64_t labelled, comm::Communicator& comm) {
  store::CacheSchema schema;
  schema.rows = in.rows;
  // The gradient cache's chunking: every rank's rows (whole reduction
  // blocks, so whole chunks of it) are whole chunks here too.
  schema.rows_per_chunk = in.rows_per_chunk;
  schema.datasets = {{ds::kIds, in.id_width, store::ElementType::str},
                     {"representer_alpha", in.classes, store::ElementType::f32}};
  store::Attributes& a = schema.attributes;
  a.set("kind", "representer_alpha");
  a.set("lambda", in.lambda);
  a.set("lambda_source", in.lambda_source);
  a.set("labels", in.bundle.info.labels);
  a.set("labelled", labelled);
  a.set("head_fitted", std::int64_t(head_fitted ? 1 : 0));
  a.set("gradient_norm", gradient_norm);
  a.set("cache_path", o.cache);
  a.set("cache_identity", in.cache_identity);
  a.set("model_dir", o.model_dir);
  a.set("model_sha256", in.model_sha256);
  a.set("formula", "alpha_i = (e_{y_i} - softmax(W f_i + b)) / (2 lambda n); 0 for rows without a label");
  schema.unchecked_attributes = {"cache_path", "model_dir"};

  store::CacheWriter writer = store::CacheWriter::create(path, schema, comm);
  if (rows.rows > 0) {
    const store::CacheReader reader = store::CacheReader::open(o.cache);
    const std::vector<std::string> ids = reader.read_strings(ds::kIds, rows.first_row, rows.rows);
    std::vector<float> alpha(local_alpha.begin(), local_alpha.end());
    writer.write_strings(ds::kIds, rows.first_row, rows.rows, ids.data());
    writer.write_rows("representer_alpha", rows.first_row, rows.rows, alpha.data());
  }
  writer.finalize();
}

std::string head_json(const Head& head, const std::vector<std::string>& labels, double lambda, double gradient_norm,
                      const std::string& model_dir, const std::string& cache) {
  nlohmann::ordered_json weight = nlohmann::ordered_json::array();
  for (std::int64_t c = 0; c < head.classes; ++c)
    weight.push_back(std::vector<double>(head.weight.begin() + c * head.dim, head.weight.begin() + (c + 1) * head.dim));
  nlohmann::ordered_json j{{"format", "fathom-representer-head"},
                           {"format_version", 1},
                           {"model_dir", model_dir},
                           {"cache", cache},
                           {"labels", labels},
                           {"lambda", lambda},
                           {"gradient_norm", gradient_norm},
                           {"classes", head.classes},
                           {"dim", head.dim},
                           {"weight", std::move(weight)},
                           {"bias", head.bias}};
  return j.dump(1) + "\n";
}

}  // namespace fathom::attrib::detail
