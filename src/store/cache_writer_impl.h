#pragma once
// CacheWriter's state, shared by cache_writer.cpp (opening, finalizing) and
// cache_writer_rows.cpp (row writes and completion records).
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "chunk_progress.h"
#include "fathom/comm/communicator.h"
#include "fathom/store/cache_writer.h"
#include "h5_handle.h"
#include "writer_file.h"

namespace fathom::store {

struct CacheWriter::Impl {
  std::string path;
  CacheSchema schema;  // resolved
  comm::Communicator* comm = nullptr;
  void* mpi_comm = nullptr;  // MPI_Comm* in MPI-IO mode
  detail::WriterFile file;
  std::vector<detail::H5Handle> memory_types;  // per dataset
  detail::ChunkProgress progress;
  bool finalized = false;
  std::vector<std::uint16_t> half_scratch;
  std::vector<char> string_scratch;

  void start(std::vector<std::uint8_t> flags);
  std::size_t index_of(const std::string& name) const;
  void check_range(const DatasetSpec& spec, std::int64_t row_begin, std::int64_t rows) const;
  // What every write checks first: the writer is open, `dataset` exists and
  // holds one of `types` (else UsageError "...; <data_needs>"), the rows are
  // in range. Returns the dataset's index.
  std::size_t begin_write(const char* call, const std::string& dataset, std::int64_t row_begin, std::int64_t rows,
                          std::initializer_list<ElementType> types, const char* data_needs);
  // Splits [row_begin, row_begin + rows) at chunk boundaries and calls
  // write(chunk_begin_row, n, offset_in_rows) per piece, with the ordering
  // checks and completion around it.
  template <class F>
  void for_each_piece(std::size_t d, std::int64_t row_begin, std::int64_t rows, F&& write);
  void write_piece(std::size_t d, std::int64_t row_begin, std::int64_t rows, const void* mem);
  void mark_complete(std::int64_t chunk);
  void flush_local();
  void require_open(const char* what) const;
};

}  // namespace fathom::store
