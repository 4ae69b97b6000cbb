// The stats pipeline: tokenizer choice, one shard read, skipped-record
// reporting and the merge on rank 0. The collectives come from the caller's
// ShardGroup, so this file knows nothing of MPI.
#include "fathom/data/compute_stats.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>

#include "fathom/core/error.h"
#include "fathom/core/progress.h"
#include "fathom/data/shard.h"
#include "fathom/data/tokenizer_factory.h"
#include "fathom/data/words.h"

namespace fathom::data {
namespace {

// Reads this rank's records into `stats`, advancing the progress bar by the
// group-wide estimate (this shard's progress times the number of ranks).
void read_shard_into(CorpusReader& reader, CorpusStats& stats, Progress& progress, int group_size) {
  Example e;
  std::int64_t last = 0;
  while (reader.next(e)) {
    stats.add(e);
    const std::int64_t now = reader.records_read();
    progress.advance((now - last) * group_size);
    last = now;
  }
  progress.finish();
}

// COLLECTIVE: skipping must never be silent, on any rank.
void report_skipped(const CorpusReader& reader, const ShardGroup& group) {
  const std::int64_t mine = reader.skipped();
  if (mine > 0) {
    std::string lines;
    for (std::size_t i = 0; i < reader.skipped_lines().size(); ++i)
      lines += "\n  line " + std::to_string(reader.skipped_lines()[i]) + ": " + reader.skip_messages()[i];
    spdlog::warn("{}: skipped {} bad record(s) in this rank's shard; first ones:{}", reader.path(), mine, lines);
  }
  const std::int64_t total = group.sum(mine);
  if (total > 0 && group.rank == 0)
    spdlog::warn("{}: {} bad record(s) skipped in total (--on-error skip)", reader.path(), total);
}

// COLLECTIVE: every rank's partial statistics, merged on rank 0.
std::optional<CorpusStats> merge_on_root(const CorpusStats& mine, const CorpusStats::Tokenize& tokenize,
                                         const ShardGroup& group) {
  std::vector<std::string> parts = group.gather_to_root(mine.serialize());
  if (group.rank != 0) return std::nullopt;
  if (parts.size() != static_cast<std::size_t>(group.size)) {
    throw Error("stats: gathered " + std::to_string(parts.size()) + " shards' statistics, expected " +
                std::to_string(group.size) + " (one per rank)");
  }
  CorpusStats merged(tokenize);
  for (const std::string& part : parts) merged.merge(CorpusStats::deserialize(part));
  return merged;
}

}  // namespace

CorpusStats::Tokenize stats_tokenizer(const StatsOptions& o) {
  const auto& kinds = tokenizer_kinds();
  if (std::find(kinds.begin(), kinds.end(), o.tokenizer) == kinds.end())
    throw UsageError("stats: unknown tokenizer '" + o.tokenizer + "'; expected word or wordpiece");
  if (o.tokenizer == "wordpiece" && o.vocab.empty())
    throw UsageError("stats: --tokenizer wordpiece needs --vocab vocab.txt");
  TokenizerOptions text;
  text.lowercase = o.lowercase;
  if (o.vocab.empty()) {
    return [text](std::string_view t) { return basic_words(t, text); };
  }
  std::shared_ptr<Tokenizer> tok = load_tokenizer(o.tokenizer, o.vocab, tokenizer_options_json(o.tokenizer, text));
  return [tok](std::string_view t) { return tok->tokenize(t); };
}

std::optional<CorpusStats> compute_corpus_stats(const StatsOptions& o, const ShardGroup& group) {
  const CorpusStats::Tokenize tokenize = stats_tokenizer(o);
  const std::int64_t n = count_records(o.corpus, o.corpus_options);
  CorpusReader reader(o.corpus, o.corpus_options, shard_range(n, group.rank, group.size));
  CorpusStats mine(tokenize);
  Progress progress("stats " + o.corpus, n);
  read_shard_into(reader, mine, progress, group.size);
  report_skipped(reader, group);
  return merge_on_root(mine, tokenize, group);
}

}  // namespace fathom::data
