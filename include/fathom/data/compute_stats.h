#pragma once
// `fathom stats` as a library call: every process reads its shard of a corpus
// into a CorpusStats, and rank 0 merges the shards' statistics.
//
// data does not depend on comm, so the caller hands in the two collectives the
// pipeline needs as a ShardGroup: the CLI adapts its communicator
// (cli::shard_group), a single process (a test, the server) passes
// ShardGroup{}.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "fathom/data/corpus.h"
#include "fathom/data/corpus_stats.h"

namespace fathom::data {

struct StatsOptions {
  std::string corpus;  // .jsonl / .tsv / .csv (CorpusOptions::format decides)
  CorpusOptions corpus_options;
  // Token statistics. Without a vocabulary: the normalized words themselves
  // (BERT's basic tokenization, see words.h). With one: what a model sees,
  // unknown words as [UNK], cut by `tokenizer` ("word" or "wordpiece";
  // wordpiece needs a vocabulary).
  std::string tokenizer = "word";
  std::string vocab;  // vocab.txt; empty = none
  bool lowercase = true;
};

// One process's place in the group that shares a corpus, and the collectives
// the pipeline calls. Both functions are COLLECTIVE: every rank calls them, in
// the same order. The defaults are those of a group of one.
struct ShardGroup {
  int rank = 0;
  int size = 1;
  // The sum of `value` over the ranks, returned on every rank.
  std::function<std::int64_t(std::int64_t value)> sum = [](std::int64_t value) { return value; };
  // On rank 0: every rank's `bytes`, in rank order (size entries). On the
  // other ranks the result is ignored (an empty vector will do).
  std::function<std::vector<std::string>(const std::string& bytes)> gather_to_root =
      [](const std::string& bytes) { return std::vector<std::string>{bytes}; };
};

// COLLECTIVE over `group`. Reads the records shard_range(count_records(corpus),
// rank, size) of the corpus, shows progress on rank 0 (global rate estimated
// from rank 0's shard), logs the bad records this rank skipped
// (OnError::skip) and their total on rank 0, and returns the statistics of the
// whole corpus on rank 0 and std::nullopt on the other ranks.
// Throws UsageError for an unknown tokenizer or wordpiece without a
// vocabulary; InputError (file, line, field) for a bad corpus or vocabulary.
std::optional<CorpusStats> compute_corpus_stats(const StatsOptions& options, const ShardGroup& group = {});

// The tokenization token statistics count with (see StatsOptions). Loads the
// vocabulary, if any; throws like compute_corpus_stats.
CorpusStats::Tokenize stats_tokenizer(const StatsOptions& options);

}  // namespace fathom::data
