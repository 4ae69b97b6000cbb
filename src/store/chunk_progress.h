#pragma once
// Which row-chunks of a cache are complete, and how far each dataset of a
// chunk in progress has been written (pure bookkeeping for CacheWriter).
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "fathom/store/schema.h"

namespace fathom::store::detail {

class ChunkProgress {
 public:
  ChunkProgress() = default;
  ChunkProgress(const CacheSchema& schema, std::vector<std::uint8_t> flags);

  // Throws UsageError unless dataset `d` of `chunk` may receive rows
  // [begin, begin + count): the chunk is not complete and `begin` is where
  // that dataset's rows of the chunk stopped (its first row at the start).
  void check(std::size_t d, std::int64_t chunk, std::int64_t begin, std::int64_t count) const;
  // Records a successful write; true if every dataset of `chunk` is now
  // fully written (the caller then sets the flag and calls mark_complete).
  bool advance(std::size_t d, std::int64_t chunk, std::int64_t count);
  void mark_complete(std::int64_t chunk);

  bool complete(std::int64_t chunk) const { return flags_.at(std::size_t(chunk)) != 0; }
  const std::vector<std::uint8_t>& flags() const { return flags_; }
  void set_flags(std::vector<std::uint8_t> flags) { flags_ = std::move(flags); }

 private:
  std::int64_t next_row(std::size_t d, std::int64_t chunk) const;
  const CacheSchema* schema_ = nullptr;
  std::vector<std::uint8_t> flags_;
  // Chunk -> next row per dataset, only for chunks in progress on this rank.
  std::unordered_map<std::int64_t, std::vector<std::int64_t>> next_;
};

}  // namespace fathom::store::detail
