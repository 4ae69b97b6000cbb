#pragma once
// One communicator interface, several backends chosen at run time
// (c10d-style): "mpi" (under mpirun/srun), "local" (one process), "nccl"
// (device buffers; only when built with CUDA/NCCL).
//
// Contract for every collective:
//  * COLLECTIVE: every rank of the communicator must call it, in the same
//    order, with the same count/dtype/root (gatherv: own count only).
//  * Counts are element counts, 64-bit. Buffers larger than max_chunk()
//    elements (default INT32_MAX) are sent in several calls, so MPI's `int`
//    counts never overflow.
//  * Memory: host pointers for mpi/local; device pointers for nccl.
//  * Errors: a failed call throws CommError naming the operation and rank.
//    A backend that lacks an operation throws CommError("<op>", rank,
//    "not supported by backend <name>").
//  * Deadlocks: if collective_timeout() > 0, a watchdog aborts the whole job
//    (non-zero exit, message with rank and operation) when one call takes
//    longer than that. Set by FATHOM_COLLECTIVE_TIMEOUT (seconds, default 600;
//    0 disables).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fathom::comm {

enum class DType { f32, f64, i64, u8 };
enum class ReduceOp { sum, max, min };

std::size_t dtype_size(DType t);
const char* dtype_name(DType t);

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<std::int64_t>() { return DType::i64; }
template <> constexpr DType dtype_of<std::uint8_t>() { return DType::u8; }
template <> constexpr DType dtype_of<char>() { return DType::u8; }

class Communicator {
 public:
  virtual ~Communicator() = default;
  Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;  // "mpi" | "local" | "nccl"
  bool is_root() const { return rank() == 0; }

  // COLLECTIVE.
  virtual void barrier() = 0;
  // COLLECTIVE. In place: data[count] becomes the reduction over ranks.
  virtual void all_reduce(void* data, std::int64_t count, DType dtype, ReduceOp op) = 0;
  // COLLECTIVE. data[count] on `root` is copied to every rank.
  virtual void broadcast(void* data, std::int64_t count, DType dtype, int root) = 0;
  // COLLECTIVE. recv[size()*count] = concatenation of every rank's send[count].
  virtual void all_gather(const void* send, std::int64_t count, void* recv, DType dtype) = 0;
  // COLLECTIVE. Each rank sends its own count; returns the concatenation in
  // rank order, and fills counts[r] (size() entries) if counts != nullptr.
  virtual std::vector<std::uint8_t> all_gatherv(const void* send, std::int64_t count, DType dtype,
                                                std::vector<std::int64_t>* counts = nullptr) = 0;
  // COLLECTIVE. On root, recv[size()*count] is filled; recv is ignored elsewhere.
  virtual void gather(const void* send, std::int64_t count, void* recv, DType dtype, int root) = 0;
  // COLLECTIVE. Like all_gatherv, but only `root` receives: on root the
  // result is the concatenation of every rank's send[count] in rank order; on
  // the other ranks it is empty (no buffer of the total size is allocated).
  // counts[r] (size() entries) is filled on every rank if counts != nullptr.
  // Use it where only rank 0 needs the data (writing outputs, merging top-k
  // lists): memory stays O(own count) off the root.
  virtual std::vector<std::uint8_t> gatherv(const void* send, std::int64_t count, DType dtype, int root,
                                            std::vector<std::int64_t>* counts = nullptr) = 0;
  // Not collective: terminates every rank of the job with `code` (MPI_Abort),
  // or the process for local. Never returns.
  [[noreturn]] virtual void abort(int code) = 0;

  // Typed helpers (COLLECTIVE, like the calls they wrap).
  template <class T> void all_reduce(std::vector<T>& v, ReduceOp op = ReduceOp::sum) {
    all_reduce(v.data(), std::int64_t(v.size()), dtype_of<T>(), op);
  }
  template <class T> T all_reduce_value(T v, ReduceOp op = ReduceOp::sum) {
    all_reduce(&v, 1, dtype_of<T>(), op);
    return v;
  }
  template <class T> void broadcast(std::vector<T>& v, int root = 0) {
    std::int64_t n = std::int64_t(v.size());
    broadcast(&n, 1, DType::i64, root);
    v.resize(std::size_t(n));
    broadcast(v.data(), n, dtype_of<T>(), root);
  }
  void broadcast(std::string& s, int root = 0);
  template <class T> std::vector<T> all_gather_value(T v) {
    std::vector<T> out(static_cast<std::size_t>(size()));  // not size_t(size()): vexing parse
    all_gather(&v, 1, out.data(), dtype_of<T>());
    return out;
  }

  // Largest element count sent in one backend call (tests lower it to
  // exercise the chunked path). Applies to all collectives.
  void set_max_chunk(std::int64_t elements) { max_chunk_ = elements; }
  std::int64_t max_chunk() const { return max_chunk_; }

 protected:
  std::int64_t max_chunk_ = 2147483647;  // INT32_MAX
};

// Backend by name: "auto" (mpi when launched by mpirun/srun with >1 rank or
// when MPI is already initialised, else local), "mpi", "local", "nccl".
// "mpi" initialises MPI (threaded: MPI_THREAD_FUNNELED) and finalises it when
// the last communicator is destroyed. Throws UsageError for unknown names or
// a backend not built in.
std::unique_ptr<Communicator> make_communicator(const std::string& backend = "auto");

// The backends compiled into this binary, e.g. {"local", "mpi", "nccl"}.
std::vector<std::string> available_backends();
// MPI library version string (MPI_Get_library_version), first line.
std::string mpi_library_version();
// NCCL version "2.x.y" or "" when not built in.
std::string nccl_version();

// Collective timeout in seconds (FATHOM_COLLECTIVE_TIMEOUT, default 600; 0 = off).
double collective_timeout();

}  // namespace fathom::comm
