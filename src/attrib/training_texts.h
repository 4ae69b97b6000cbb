#pragma once
// Private to attrib: what every method that names training rows in its output
// shares — the rows' texts from the training corpus the cache was built from,
// text snippets, and numbers printed at 6 significant digits.
#include <cstdint>
#include <string>
#include <vector>

#include "fathom/data/corpus.h"

namespace fathom::attrib::detail {

// `p` rounded to 6 significant digits (as `fathom predict` prints probs).
double round6(double p);

// The first `chars` code points of UTF-8 `text` followed by "..." when cut
// (0 = all of it).
std::string snippet(const std::string& text, std::int64_t chars);

// The text of every record of `corpus` (text, or text + " [SEP] " + text_pair),
// cut to `snippet_chars`. Row i of a cache is record i of its corpus, so the
// corpus must have exactly ids.size() records with these ids in this order:
// InputError naming the file, line and the first mismatch otherwise (also for a
// skipped record). Any rank; reads the whole file.
std::vector<std::string> read_training_texts(const std::string& corpus, const data::CorpusOptions& options,
                                             const std::vector<std::string>& ids, std::int64_t snippet_chars);

}  // namespace fathom::attrib::detail
