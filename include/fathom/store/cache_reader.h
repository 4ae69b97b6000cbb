#pragma once
// Reads a fathom cache (layout: schema.h) written by CacheWriter.
//
// Who calls what: everything here is ANY RANK and independent (each rank
// opens the file on its own with sequential, read-only HDF5; no MPI). Many
// ranks may read one file at once. A reader is not thread-safe (HDF5 is
// built without thread safety): one thread per reader, one reader at a time
// per process is the safe rule.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fathom/store/schema.h"

namespace fathom::store {

class CacheReader {
 public:
  // Opens `path` read-only. Throws InputError if it is missing, not HDF5,
  // not a fathom cache, or of a newer format_version. An incomplete cache
  // opens fine (see is_complete / chunk_complete): rows of incomplete
  // chunks hold unspecified values.
  static CacheReader open(const std::string& path);
  ~CacheReader();
  CacheReader(CacheReader&&) noexcept;
  CacheReader& operator=(CacheReader&&) noexcept;
  CacheReader(const CacheReader&) = delete;
  CacheReader& operator=(const CacheReader&) = delete;

  const std::string& path() const;
  // rows, rows_per_chunk, datasets in creation order, and the caller's
  // attributes (the writer-managed ones are only in attributes()).
  const CacheSchema& schema() const;
  // Every root attribute, with typed getters (format_version, created_at,
  // fathom_version, complete, and the caller's).
  const Attributes& attributes() const;
  std::int64_t rows() const;
  std::int64_t rows_per_chunk() const;
  std::int64_t num_chunks() const;
  // The dataset's spec, or UsageError naming the datasets there are.
  const DatasetSpec& dataset(const std::string& name) const;

  // Finalized (root attribute complete == 1).
  bool is_complete() const;
  // /complete as read at open().
  bool chunk_complete(std::int64_t chunk) const;
  std::int64_t completed_chunk_count() const;

  // Rows [begin, begin + count) of `dataset` into out, row-major:
  //  * float:   f32 or f16 (converted exactly to float); out[count * values_per_row]
  //  * int64:   i64; out[count * values_per_row]
  //  * strings: str; trailing NULs stripped.
  // Caller owns out. UsageError for a wrong dtype or rows outside [0, rows()).
  void read_rows(const std::string& dataset, std::int64_t begin, std::int64_t count, float* out) const;
  void read_rows(const std::string& dataset, std::int64_t begin, std::int64_t count, std::int64_t* out) const;
  std::vector<std::string> read_strings(const std::string& dataset, std::int64_t begin, std::int64_t count) const;
  // f16 datasets only: the raw binary16 bits, no conversion.
  void read_half_bits(const std::string& dataset, std::int64_t begin, std::int64_t count, std::uint16_t* out) const;

 private:
  struct Impl;
  explicit CacheReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Iterates over rows of a float dataset (f32 or f16) in blocks that fit a
// memory budget, reusing one buffer:
//
//   RowBlocks blocks(reader, "gradients", {0, reader.rows()}, 64 << 20);
//   while (blocks.next()) use(blocks.begin(), blocks.count(), blocks.data());
//
// Blocks hold as many rows as budget / (values_per_row * 4 bytes) allows,
// rounded down to whole HDF5 chunks when at least one fits, and (after the
// first) start on chunk boundaries; together they cover `rows` exactly once,
// in order. The reader must outlive the iterator. ANY RANK; combine with
// shard_rows() to split the rows across ranks. UsageError if the budget is
// smaller than one row or `rows` is outside the dataset.
class RowBlocks {
 public:
  RowBlocks(const CacheReader& reader, const std::string& dataset, RowRange rows, std::size_t memory_budget_bytes);

  // Reads the next block; false (and no block) once all rows were returned.
  bool next();
  std::int64_t begin() const { return begin_; }
  std::int64_t count() const { return count_; }
  std::int64_t width() const { return per_row_; }  // floats per row
  // count() * width() floats, valid until the next call to next().
  const float* data() const { return buffer_.data(); }
  std::int64_t max_block_rows() const { return block_rows_; }

 private:
  const CacheReader* reader_;
  std::string dataset_;
  RowRange rows_;
  std::int64_t per_row_ = 1;
  std::int64_t block_rows_ = 1;
  std::int64_t rows_per_chunk_ = 1;
  std::int64_t next_row_ = 0;
  std::int64_t begin_ = 0;
  std::int64_t count_ = 0;
  std::vector<float> buffer_;
};

}  // namespace fathom::store
