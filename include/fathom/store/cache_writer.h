#pragma once
// Writes a fathom cache (layout: schema.h) from one or many ranks, resumably.
//
// Who calls what (FAISS-style contract):
//  * COLLECTIVE = every rank of `comm` calls it, in the same order, with the
//    same arguments (schema included: it is checked). With the "mpi"/"nccl"
//    backends the file is opened through MPI-IO (H5Pset_fapl_mpio); with
//    "local" it is an ordinary sequential HDF5 file.
//  * ANY RANK = a rank calls it on its own, for its own rows.
//
// Writing: each rank writes only the row-chunks it owns (chunks_of_rank()
// gives a balanced contiguous split; any split by WHOLE chunks is fine, but
// two ranks must never write rows of the same chunk). Writes are independent
// MPI-IO (H5FD_MPIO_INDEPENDENT): ranks may write different amounts, in any
// order, and a rank that resumes with fewer pending chunks never waits for
// the others. One HDF5 call touches one chunk (larger writes are split), so
// every call is a single contiguous file region.
//
// Completion and crashes: all datasets are allocated at create() and the
// metadata is flushed then, so later writes change only raw data. Within a
// row-chunk, each dataset's rows are written in order (a write continues
// where the previous one for that dataset and chunk stopped). When the last
// row of the last dataset of a chunk has been written, the writer flushes
// and sets /complete[chunk] = 1. A SIGKILL at any moment therefore loses at
// most each rank's chunk in progress: open_for_resume() reads /complete and
// the caller rewrites the chunks that are not complete (from their first row).
// Flushing: local files get H5Fflush after the chunk's data and again after
// its flag. In MPI-IO mode H5Fflush is collective, so it cannot run per
// chunk; there HDF5 hands raw data straight to MPI-IO (no chunk cache, no
// sieve buffer), so data and then flag reach the OS in that order, which
// survives a killed process; durability against a node crash comes from
// finalize(), which fsyncs the file in both modes.
//
// Not thread-safe (HDF5 is built without thread safety): one thread per rank.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fathom/comm/communicator.h"
#include "fathom/store/schema.h"

namespace fathom::store {

class CacheWriter {
 public:
  // COLLECTIVE. Creates (truncating) `path` with every dataset of `schema`
  // allocated, /complete all 0 and attributes: the schema's plus format,
  // format_version, rows_per_chunk, created_at, fathom_version, complete=0.
  // Throws UsageError for an invalid schema or schemas that differ between
  // ranks, Error (with the HDF5 error stack) if the file cannot be created.
  static CacheWriter create(const std::string& path, const CacheSchema& schema, comm::Communicator& comm);

  // COLLECTIVE. Reopens a cache for writing after an interruption. Rank 0
  // first checks it read-only; if the file's schema or any attribute
  // differs from `schema` (attributes in both directions; writer-managed ones
  // excepted) every rank throws InputError "<path>: cannot resume: <name>:
  // file has X, this run has Y" and the file is not modified. A missing or
  // non-cache file is an InputError too. Complete chunks are then reported by
  // chunk_complete()/completed_chunks() on every rank.
  static CacheWriter open_for_resume(const std::string& path, const CacheSchema& schema, comm::Communicator& comm);

  // COLLECTIVE. open_for_resume if `path` exists, else create; `resumed`
  // (optional) says which happened.
  static CacheWriter open_or_create(const std::string& path, const CacheSchema& schema, comm::Communicator& comm,
                                    bool* resumed = nullptr);

  // COLLECTIVE. True when `path` is a finalized cache whose schema matches
  // `schema` (as open_for_resume compares them): there is nothing left to
  // write, and the file is only read, never opened for writing. False when it
  // is missing, incomplete, unreadable or different (open_or_create then
  // resumes it or says why it cannot).
  static bool complete_and_matching(const std::string& path, const CacheSchema& schema, comm::Communicator& comm);

  // COLLECTIVE in MPI-IO mode (closes the file, H5Fclose is collective).
  // Closing without finalize() leaves a resumable, incomplete cache.
  ~CacheWriter();
  CacheWriter(CacheWriter&&) noexcept;
  CacheWriter& operator=(CacheWriter&&) noexcept;
  CacheWriter(const CacheWriter&) = delete;
  CacheWriter& operator=(const CacheWriter&) = delete;

  // ANY RANK. Writes rows [row_begin, row_begin + rows) of `dataset`.
  //  * float:   f32 or f16 datasets (f16: converted, round to nearest even);
  //             data[rows * values_per_row], row-major, i.e. [rows, width].
  //  * int64:   i64 datasets; data[rows * values_per_row].
  //  * strings: str datasets; strings[rows], each at most width bytes
  //             (UTF-8; longer ones are an InputError naming the row).
  // The data is only read during the call (no ownership taken). Throws
  // UsageError for a wrong dtype, rows out of range, a gap or overlap inside
  // a chunk (see ordering above) or a chunk that is already complete.
  void write_rows(const std::string& dataset, std::int64_t row_begin, std::int64_t rows, const float* data);
  void write_rows(const std::string& dataset, std::int64_t row_begin, std::int64_t rows, const std::int64_t* data);
  void write_strings(const std::string& dataset, std::int64_t row_begin, std::int64_t rows,
                     const std::string* strings);

  // ANY RANK. Completion as of open/create plus this rank's own writes (other
  // ranks' progress becomes visible at finalize() or a reopen).
  bool chunk_complete(std::int64_t chunk) const;
  std::vector<std::int64_t> completed_chunks() const;
  // ANY RANK. Chunks of chunks_of_rank(rank, size) that are not complete: the
  // work left for `rank` after a resume.
  std::vector<std::int64_t> pending_chunks(int rank, int size) const;

  // COLLECTIVE. Checks that every chunk of every rank is complete (else
  // Error naming how many are missing and the first one, on every rank), sets
  // the root attribute complete=1, flushes, closes and fsyncs the file (a
  // finalized cache is on disk, local or MPI-IO). The writer is unusable
  // afterwards. Calling it twice is a UsageError.
  void finalize();

  // ANY RANK. Layout of this cache (rows_per_chunk resolved).
  const CacheSchema& schema() const;
  const std::string& path() const;
  std::int64_t num_chunks() const;
  RowRange chunk_rows(std::int64_t chunk) const;
  std::vector<std::int64_t> chunks_of_rank(int rank, int size) const;
  bool parallel() const;  // opened through MPI-IO

 private:
  struct Impl;
  // COLLECTIVE. What create() and open_for_resume() share: the schema checked
  // across ranks and resolved, the communicator and its MPI handle.
  static std::unique_ptr<Impl> new_impl(const std::string& path, const CacheSchema& schema, comm::Communicator& comm);
  explicit CacheWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fathom::store
