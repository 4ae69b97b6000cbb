#pragma once
// One FAISS index in memory over vectors the caller supplies, built from an
// index_factory string: what a shard of `fathom index` is, and what methods
// that search their own vectors use (representer points search rows α_ic f_i
// by maximum inner product). FAISS stays behind this interface.
//
// Ids: rows added with add(x, n, first_row) are found as first_row,
// first_row+1, ...; search returns those ids, nearer first (top_k.h order).
// Cosine: vectors and queries are L2-normalised here, inner product after.
// Not thread-safe; any rank (nothing here is collective except
// merge_across_ranks).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fathom/index/manifest.h"
#include "fathom/index/top_k.h"

namespace faiss {
struct Index;
}
namespace fathom::comm {
class Communicator;
}

namespace fathom::index {

class VectorIndex {
 public:
  // UsageError for a spec FAISS rejects (FAISS's message plus the forms
  // fathom accepts: Flat, IVF<n>,Flat, IVF<n>,PQ<m>, HNSW<M>, OPQ<m>,IVF<n>,PQ<m>, ...)
  // or dim < 1.
  VectorIndex(const std::string& spec, Metric metric, std::int64_t dim);
  ~VectorIndex();
  VectorIndex(VectorIndex&&) noexcept;
  VectorIndex& operator=(VectorIndex&&) noexcept;

  Metric metric() const;
  std::int64_t dim() const;
  std::int64_t size() const;          // rows added
  bool needs_training() const;        // IVF/PQ/OPQ before train()
  // Trains on x [n, dim]. UsageError if n is too small for the spec (FAISS's
  // message: e.g. IVF needs at least nlist rows).
  void train(const float* x, std::int64_t n);
  // Adds x [n, dim] with ids first_row .. first_row + n - 1. Rows must be added
  // in increasing, contiguous id order (ids are an offset, not stored per row).
  void add(const float* x, std::int64_t n, std::int64_t first_row);
  // IVF: lists probed per query (no effect on other indexes). UsageError if < 1.
  void set_nprobe(std::int64_t nprobe);
  // IVF: the number of inverted lists and the lists probed per query; 0 for
  // indexes without an IVF layer (Flat, HNSW, PQ, ...).
  std::int64_t nlist() const;
  std::int64_t nprobe() const;
  // Local search: queries [n, dim], k >= 1. Lists have k entries, missing
  // ones as in top_k.h.
  Neighbors search(const float* queries, std::int64_t n, std::int64_t k) const;

  // FAISS's serialised form (write_index), and back. The metric is not stored
  // by fathom in the bytes' header; pass the one it was built with.
  std::vector<std::uint8_t> to_bytes() const;
  static VectorIndex from_bytes(const std::vector<std::uint8_t>& bytes, Metric metric, std::int64_t first_row);
  // Files (write_index / read_index); InputError naming the path on failure.
  void write(const std::string& path) const;
  static VectorIndex read(const std::string& path, Metric metric, std::int64_t first_row);

 private:
  struct Impl;
  explicit VectorIndex(std::unique_ptr<Impl> impl);
  static VectorIndex adopt(std::unique_ptr<faiss::Index> index, Metric metric, std::int64_t first_row);
  std::unique_ptr<Impl> impl_;
};

// COLLECTIVE. Every rank's local lists for the same queries merged exactly
// (top_k.h): gathered on rank 0 (comm gatherv), merged, broadcast; every rank
// returns the same k lists.
Neighbors merge_across_ranks(const Neighbors& local, std::int64_t k, Metric metric, comm::Communicator& comm);

}  // namespace fathom::index
