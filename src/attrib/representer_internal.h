#pragma once
// Private to the attrib module: the steps representer() (representer.h) is
// made of, so each file has one job: checking and loading the inputs
// (representer_inputs.cpp), writing the outputs (representer_output.cpp).
#include <cstdint>
#include <string>
#include <vector>

#include "fathom/attrib/representer.h"
#include "fathom/attrib/representer_head.h"
#include "fathom/attrib/representer_search.h"
#include "fathom/model/bundle.h"
#include "training_texts.h"

namespace fathom::comm {
class Communicator;
}

namespace fathom::attrib::detail {

// Everything representer() needs to know before it computes anything.
struct Inputs {
  model::Bundle bundle;
  std::int64_t rows = 0;            // cache rows N
  std::int64_t rows_per_chunk = 1;  // the cache's chunking (reduction blocks are whole chunks)
  std::int64_t classes = 0;         // C
  std::int64_t dim = 0;             // H
  std::int64_t id_width = 1;        // bytes of the cache's /ids strings
  std::string cache_identity;       // index::cache_identity of the cache
  std::string model_sha256;
  double lambda = 0;
  std::string lambda_source;
  std::int64_t query_records = 0;   // records in the query corpus (good and bad)
};

// UsageError for bad options (nothing is read).
void check_options(const RepresenterOptions& o);

// COLLECTIVE. Loads the bundle and checks the cache and the query corpus
// against it (representer.h, step 1) and resolves λ (step 2). Any failure
// is raised on every rank.
Inputs load_inputs(const RepresenterOptions& o, comm::Communicator& comm);

// ANY RANK. This rank's rows of the cache (/features, /labels) under `plan`.
HeadRows read_head_rows(const std::string& cache, const ReductionPlan& plan, std::int64_t dim, int rank, int size);

// The model's own head (classifier.weight, classifier.bias) in float64.
Head model_head(model::Bundle& bundle);

// ANY RANK. Ids and label indices of the given cache rows (any order,
// repeats allowed; -1 gives "" and data::kNoLabel).
void read_row_names(const std::string& cache, const std::vector<std::int64_t>& rows, std::vector<std::string>& ids,
                    std::vector<std::int64_t>& labels);

// COLLECTIVE. Writes "<out>.alpha.h5" (representer.h, step 4): every rank
// its own rows.
void write_alpha_file(const std::string& path, const RepresenterOptions& o, const Inputs& in, const HeadRows& rows,
                      const std::vector<double>& local_alpha, bool head_fitted, double gradient_norm,
                      std::int64_t labelled, comm::Communicator& comm);

// The fitted head as JSON ("<out>.head.json").
std::string head_json(const Head& head, const std::vector<std::string>& labels, double lambda, double gradient_norm,
                      const std::string& model_dir, const std::string& cache);

}  // namespace fathom::attrib::detail
