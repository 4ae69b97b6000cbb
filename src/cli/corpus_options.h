#pragma once
// Corpus options shared by every subcommand that reads a corpus, so field
// names and the bad-line policy are spelled the same way everywhere.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "fathom/comm/communicator.h"
#include "fathom/data/compute_stats.h"
#include "fathom/data/corpus.h"

namespace fathom::cli {

// Binds --format, --id-field, --text-field, --pair-field, --label-field,
// --labels, --on-error and --allow-empty-text straight to `options` (which must
// outlive parsing); defaults are data::CorpusOptions' own.
void add_corpus_flags(CLI::App& sub, data::CorpusOptions& options);
// How to read a training corpus next to the queries (--corpus of knn and
// representer): the query flags, but every record must be read (cache row i
// is record i) and any label is accepted.
data::CorpusOptions training_corpus_options(const data::CorpusOptions& query_options);
// The communicator's collectives in the form data's sharded pipelines take
// (data does not depend on comm). The result refers to `comm`.
data::ShardGroup shard_group(comm::Communicator& comm);

}  // namespace fathom::cli
