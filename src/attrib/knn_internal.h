#pragma once
// Private to the kNN code (knn.cpp, knn_audit.cpp): validating and loading
// what both modes read (index manifest, cache, model check, training corpus)
// and turning neighbour lists into JSON.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "fathom/attrib/knn.h"
#include "fathom/index/manifest.h"
#include "fathom/index/top_k.h"

namespace fathom::attrib::knn_detail {

// What the output lines name. ids/labels/texts are filled on rank 0 only.
struct KnnTables {
  index::Manifest manifest;
  std::string cache_path;
  std::int64_t rows = 0;
  std::vector<std::string> label_names;  // the cache's label attribute (index order)
  std::vector<std::string> ids;          // cache /ids (rank 0)
  std::vector<std::int64_t> labels;      // cache /labels (rank 0), data::kNoLabel if none
  std::vector<std::string> texts;        // corpus snippets by row (rank 0, only with a corpus)

  bool has_texts() const { return !texts.empty(); }
  // JSON label name of a label index; null for kNoLabel.
  nlohmann::ordered_json label_json(std::int64_t label) const;
};

// COLLECTIVE. Checks the options both modes share (`mode` names the command in
// messages; max_k is rows for knn and rows - 1 for audit: `k_limit_slack`
// subtracted from the rows), the manifest, the cache, the model, and reads the
// tables. Throws (on every rank) before anything is written.
KnnTables load_tables(const KnnSources& options, const std::string& mode, std::int64_t k_limit_slack,
                      comm::Communicator& comm);

// A float as the shortest decimal that reads back as the same float.
double exact_float(float value);

// Neighbour entries [{"id","label","distance"[,"text"]}] of list `q` of
// `lists`, skipping missing entries and `skip_row`, at most `take` of them;
// `rows_out` receives the rows taken.
nlohmann::ordered_json neighbors_json(const index::Neighbors& lists, std::int64_t q, const KnnTables& tables,
                                      std::int64_t skip_row, std::int64_t take, std::vector<std::int64_t>* rows_out);

// Creates the output's parent directory and writes "<out>.meta.json" (rank 0).
void write_meta(const std::string& out, const nlohmann::ordered_json& meta);
// Meta fields both modes share.
nlohmann::ordered_json common_meta(const KnnSources& options, const KnnTables& tables, const std::string& mode,
                                   int ranks);

}  // namespace fathom::attrib::knn_detail
