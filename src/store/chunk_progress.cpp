#include "chunk_progress.h"

#include "fathom/core/error.h"

namespace fathom::store::detail {

ChunkProgress::ChunkProgress(const CacheSchema& schema, std::vector<std::uint8_t> flags)
    : schema_(&schema), flags_(std::move(flags)) {}

std::int64_t ChunkProgress::next_row(std::size_t d, std::int64_t chunk) const {
  const auto it = next_.find(chunk);
  if (it != next_.end()) return it->second[d];
  return chunk_rows(chunk, schema_->rows, schema_->rows_per_chunk).begin;
}

void ChunkProgress::check(std::size_t d, std::int64_t chunk, std::int64_t begin, std::int64_t count) const {
  const RowRange r = chunk_rows(chunk, schema_->rows, schema_->rows_per_chunk);
  const std::string& name = schema_->datasets[d].name;
  if (complete(chunk))
    throw UsageError("dataset '" + name + "': row-chunk " + std::to_string(chunk) + " (rows " +
                     std::to_string(r.begin) + "-" + std::to_string(r.end() - 1) +
                     ") is already complete; skip complete chunks (CacheWriter::chunk_complete)");
  const std::int64_t next = next_row(d, chunk);
  if (begin != next)
    throw UsageError("dataset '" + name + "': write of rows " + std::to_string(begin) + "-" +
                     std::to_string(begin + count - 1) + " but row-chunk " + std::to_string(chunk) +
                     " continues at row " + std::to_string(next) +
                     " (rows of a chunk are written in order, without gaps or rewrites)");
}

bool ChunkProgress::advance(std::size_t d, std::int64_t chunk, std::int64_t count) {
  const RowRange r = chunk_rows(chunk, schema_->rows, schema_->rows_per_chunk);
  auto it = next_.find(chunk);
  if (it == next_.end()) it = next_.emplace(chunk, std::vector<std::int64_t>(schema_->datasets.size(), r.begin)).first;
  it->second[d] += count;
  for (std::int64_t n : it->second)
    if (n != r.end()) return false;
  return true;
}

void ChunkProgress::mark_complete(std::int64_t chunk) {
  next_.erase(chunk);
  flags_.at(std::size_t(chunk)) = 1;
}

}  // namespace fathom::store::detail
