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

struct CorpusFlags {
  std::string format = "auto";
  std::string id_field = "id", text_field = "text", pair_field = "text_pair", label_field = "label";
  std::vector<std::string> labels;
  std::string on_error = "fail";
  bool allow_empty_text = false;
};

void add_corpus_flags(CLI::App& sub, CorpusFlags& flags);
data::CorpusOptions corpus_options(const CorpusFlags& flags);
// The communicator's collectives in the form data's sharded pipelines take
// (data does not depend on comm). The result refers to `comm`.
data::ShardGroup shard_group(comm::Communicator& comm);

}  // namespace fathom::cli
