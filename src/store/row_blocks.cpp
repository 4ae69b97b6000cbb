#include <algorithm>

#include "fathom/core/error.h"
#include "fathom/store/cache_reader.h"

namespace fathom::store {

RowBlocks::RowBlocks(const CacheReader& reader, const std::string& dataset, RowRange rows,
                     std::size_t memory_budget_bytes)
    : reader_(&reader), dataset_(dataset), rows_(rows), next_row_(rows.begin) {
  const DatasetSpec& spec = reader.dataset(dataset);
  if (spec.type != ElementType::f32 && spec.type != ElementType::f16)
    throw UsageError("RowBlocks: dataset '" + dataset + "' is " + element_type_name(spec.type) + ", not a float dataset");
  if (rows.begin < 0 || rows.count < 0 || rows.end() > reader.rows())
    throw UsageError("RowBlocks: rows [" + std::to_string(rows.begin) + ", " + std::to_string(rows.end()) +
                     ") outside [0, " + std::to_string(reader.rows()) + ")");
  per_row_ = spec.values_per_row();
  const std::int64_t row_bytes = per_row_ * std::int64_t(sizeof(float));
  block_rows_ = std::int64_t(memory_budget_bytes) / row_bytes;
  if (block_rows_ < 1)
    throw UsageError("RowBlocks: a memory budget of " + std::to_string(memory_budget_bytes) +
                     " bytes is smaller than one row of '" + dataset + "' (" + std::to_string(row_bytes) + " bytes)");
  rows_per_chunk_ = reader.rows_per_chunk();
  // Whole HDF5 chunks per read when they fit: each chunk is then read once,
  // straight from disk into our buffer.
  if (block_rows_ >= rows_per_chunk_) block_rows_ -= block_rows_ % rows_per_chunk_;
  block_rows_ = std::min(block_rows_, std::max<std::int64_t>(rows.count, 1));
}

bool RowBlocks::next() {
  if (next_row_ >= rows_.end()) {
    count_ = 0;
    return false;
  }
  std::int64_t end = std::min(rows_.end(), next_row_ + block_rows_);
  // Stop at a chunk boundary if that still makes progress, so a range that
  // starts mid-chunk realigns after its first block.
  const std::int64_t aligned = end / rows_per_chunk_ * rows_per_chunk_;
  if (end < rows_.end() && aligned > next_row_ && block_rows_ >= rows_per_chunk_) end = aligned;
  begin_ = next_row_;
  count_ = end - next_row_;
  buffer_.resize(std::size_t(count_ * per_row_));
  reader_->read_rows(dataset_, begin_, count_, buffer_.data());
  next_row_ = end;
  return true;
}

}  // namespace fathom::store
