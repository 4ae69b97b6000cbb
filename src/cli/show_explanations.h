#pragma once
// `--show N` of the explanation commands (knn, representer): the first N
// lines of their JSONL output, for a person at a terminal, with each query's
// own text (read from the query corpus) and the texts of the training
// examples the output names (present when the command had --corpus).
#include <cstdint>
#include <ostream>
#include <string>

#include "fathom/data/corpus.h"

namespace fathom::cli {

// Rank 0 only (reads files). Lists it knows: "neighbors" (knn: label,
// distance), "excitatory" / "inhibitory" (representer: label, value).
// InputError naming the file and line for a line that is not JSON.
void show_explanations(std::ostream& os, const std::string& output_jsonl, const std::string& queries,
                       const data::CorpusOptions& query_options, std::int64_t n);

}  // namespace fathom::cli
