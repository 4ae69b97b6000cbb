#pragma once
// Shared front half of every backend: argument checks, watchdog arming and
// splitting 64-bit counts into pieces of at most max_chunk() elements. The
// backends only implement the raw_* primitives, whose counts always fit in an
// int, so the chunking arithmetic is the same (and unit-tested on "local").
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fathom/comm/communicator.h"
#include "watchdog.h"

namespace fathom::comm::detail {

// max_chunk() clamped to [1, INT32_MAX]: a bad set_max_chunk must neither loop
// forever nor overflow an MPI int.
std::int64_t effective_chunk(std::int64_t max_chunk);

// Calls f(offset, n) for consecutive pieces of [0, count), n <= chunk.
template <class F>
void for_each_piece(std::int64_t count, std::int64_t chunk, F&& f) {
  for (std::int64_t off = 0; off < count; off += chunk) f(off, std::min(chunk, count - off));
}

class ChunkedCommunicator : public Communicator {
 public:
  void barrier() override;
  void all_reduce(void* data, std::int64_t count, DType dtype, ReduceOp op) override;
  void broadcast(void* data, std::int64_t count, DType dtype, int root) override;
  void all_gather(const void* send, std::int64_t count, void* recv, DType dtype) override;
  std::vector<std::uint8_t> all_gatherv(const void* send, std::int64_t count, DType dtype,
                                        std::vector<std::int64_t>* counts = nullptr) override;
  void gather(const void* send, std::int64_t count, void* recv, DType dtype, int root) override;
  std::vector<std::uint8_t> gatherv(const void* send, std::int64_t count, DType dtype, int root,
                                    std::vector<std::int64_t>* counts = nullptr) override;
  using Communicator::all_reduce;
  using Communicator::broadcast;

 protected:
  virtual void raw_barrier() = 0;
  virtual void raw_all_reduce(void* data, int n, DType dtype, ReduceOp op) = 0;
  virtual void raw_broadcast(void* data, int n, DType dtype, int root) = 0;
  // Rank r's n elements land at recv + r*stride elements (stride >= n), so a
  // piece of a larger all_gather goes straight into the rank-major result.
  virtual void raw_all_gather(const void* send, int n, void* recv, std::int64_t stride, DType dtype) = 0;
  // As raw_all_gather, on root only; recv is nullptr elsewhere.
  virtual void raw_gather(const void* send, int n, void* recv, std::int64_t stride, DType dtype,
                          int root) = 0;
  // Host memory; counts/displs have size() entries, in elements.
  virtual void raw_all_gatherv(const void* send, int n, void* recv, const int* counts, const int* displs,
                               DType dtype);
  // As raw_all_gatherv, to root only; recv is nullptr off the root.
  virtual void raw_gatherv(const void* send, int n, void* recv, const int* counts, const int* displs, DType dtype,
                           int root);

  // Backends call this once rank() is valid; on_timeout must end the job.
  void start_watchdog(std::function<void()> on_timeout);
  // Backends call this first in their destructor, before tearing down the
  // transport the watchdog might use.
  void stop_watchdog() { watchdog_.reset(); }

  [[noreturn]] void fail(const char* op, const std::string& detail) const;

 private:
  void check_count(const char* op, std::int64_t count) const;
  void check_root(const char* op, int root) const;
  // all_gatherv (root == kEveryRank) and gatherv share the piece arithmetic.
  static constexpr int kEveryRank = -1;
  std::vector<std::uint8_t> gather_varying(const char* op, const void* send, std::int64_t count, DType dtype,
                                           int root, std::vector<std::int64_t>* counts_out);
  std::unique_ptr<Watchdog> watchdog_;
};

}  // namespace fathom::comm::detail
