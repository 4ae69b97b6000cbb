// Whole-file helpers: record counting (for sharding without parsing) and the
// read_corpus / read_shard conveniences.
#include <spdlog/spdlog.h>

#include "corpus_internal.h"
#include "fathom/data/shard.h"

namespace fathom::data {
namespace {

std::vector<Example> drain(CorpusReader& reader) {
  std::vector<Example> out;
  Example ex;
  while (reader.next(ex)) out.push_back(std::move(ex));
  if (reader.skipped() > 0) {
    // The reader keeps the details; make sure skipping is never silent.
    std::string lines;
    for (auto l : reader.skipped_lines()) lines += (lines.empty() ? "" : ", ") + std::to_string(l);
    spdlog::warn("{}: skipped {} bad record(s) of {} (lines {}{}); first: {}", reader.path(),
                 reader.skipped(), reader.records_read(), lines,
                 reader.skipped() > static_cast<std::int64_t>(reader.skipped_lines().size()) ? ", ..." : "",
                 reader.skip_messages().empty() ? "" : reader.skip_messages().front());
  }
  return out;
}

}  // namespace

std::int64_t count_records(const std::string& path, const CorpusOptions& options) {
  std::string format = corpus_detail::resolve_format(path, options);
  auto src = corpus_detail::open_source(path, format, options);
  std::int64_t n = 0;
  while (src->advance()) ++n;
  if (n == 0) corpus_detail::throw_no_records(path, format);
  return n;
}

std::vector<Example> read_up_to(CorpusReader& reader, std::int64_t max) {
  std::vector<Example> block;
  Example e;
  while (std::int64_t(block.size()) < max && reader.next(e)) block.push_back(e);
  return block;
}

std::vector<Example> read_corpus(const std::string& path, const CorpusOptions& options) {
  CorpusReader reader(path, options);
  return drain(reader);
}

std::vector<Example> read_shard(const std::string& path, const CorpusOptions& options, int rank,
                                int size) {
  Range rows = shard_range(count_records(path, options), rank, size);
  CorpusReader reader(path, options, rows);
  return drain(reader);
}

}  // namespace fathom::data
