#pragma once
// The full query × train influence score matrix (`fathom influence
// --scores-out S.h5`, read by `fathom lds` and by users' own analysis).
//
// File: HDF5, root attributes kind = "fathom-scores", format_version = 1,
// method (e.g. "influence:cg", "tracin"), sign (text), created_at;
// datasets
//   /scores     [Q, N] float32   score(train i, query q), fathom's sign convention
//   /query_ids  [Q] strings      ids of the queries, row order
//   /train_ids  [N] strings      ids of the training rows, column order (cache order)
// Readers check kind and format_version (InputError naming the file).
// Who calls what: ONE RANK writes (the caller gathers first); any rank reads.
#include <cstdint>
#include <string>
#include <vector>

namespace fathom::attrib {

struct ScoreMatrix {
  std::string method;
  std::string sign;
  std::vector<std::string> query_ids;
  std::vector<std::string> train_ids;
  std::vector<float> scores;  // row-major [query_ids.size(), train_ids.size()]
  float at(std::int64_t q, std::int64_t i) const { return scores[q * std::int64_t(train_ids.size()) + i]; }
};

// Writes atomically (temporary file, then rename). UsageError on shape mismatch.
void write_score_matrix(const std::string& path, const ScoreMatrix& m);
ScoreMatrix read_score_matrix(const std::string& path);

}  // namespace fathom::attrib
